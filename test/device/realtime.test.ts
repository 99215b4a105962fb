import assert from 'node:assert/strict';
import { endLimitWindows, expireDeviceCodeIn } from '../helpers/fixtures.js';
import { Phone } from '../helpers/phone.js';
import { SseClient } from '../helpers/sse.js';
import { DEVICE_GRANT, deviceAuthorization, heldRedeem, postForm, startTestServer } from '../helpers/server.js';

type Auth = Awaited<ReturnType<typeof deviceAuthorization>> & { status_uri: string; interval: number };

describe('real-time handoff on one instance', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer({
      realtime: { maxWaitSeconds: 3, maxConcurrentWaits: 4, heartbeatSeconds: 1, retryMilliseconds: 2500 },
    });
  });
  beforeEach(() => endLimitWindows(server.db));
  after(() => server.close());
  const start = async () => (await deviceAuthorization(server.publicUrl)) as Auth;

  it('advertises the cap on Prefer: wait in discovery', async () => {
    const meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.equal(meta.token_endpoint_prefer_wait_max, 3);
  });

  it('answers a held request the moment the phone approves', async () => {
    const dc = await start();
    const held = heldRedeem(server.publicUrl, dc.device_code, 3);
    await new Promise((r) => setTimeout(r, 200));
    const approvedAt = Date.now();
    await new Phone().approveDevice(dc.verification_uri_complete);
    const r = await held;
    const latency = Date.now() - approvedAt;
    assert.equal(r.status, 200);
    assert.ok(r.json.access_token);
    assert.equal(r.headers.get('preference-applied'), 'wait=3');
    assert.ok(latency < 2500, `answered ${latency} ms after approval began, before the 3 s hold would have ended`);
  });

  it('a held request keeps its request id through the hold: the one it sent, or the one minted for it', async () => {
    // A parked request lets go of its headers object (http/parked.ts); the id must survive into the library's answer.
    const sent = await start();
    const minted = await start();
    const withId = postForm(
      `${server.publicUrl}/token`,
      { grant_type: DEVICE_GRANT, device_code: sent.device_code, client_id: 'tv' },
      { prefer: 'wait=3', 'x-request-id': 'trace-held-0001' },
    );
    const withBadId = postForm(
      `${server.publicUrl}/token`,
      { grant_type: DEVICE_GRANT, device_code: minted.device_code, client_id: 'tv' },
      { prefer: 'wait=3', 'x-request-id': 'not a valid id <b>' },
    );
    await new Promise((r) => setTimeout(r, 200));
    await new Phone().approveDevice(sent.verification_uri_complete);
    await new Phone().approveDevice(minted.verification_uri_complete);
    const [a, b] = await Promise.all([withId, withBadId]);
    assert.equal(a.status, 200);
    assert.ok(a.json.access_token);
    assert.equal(a.headers.get('x-request-id'), 'trace-held-0001');
    assert.equal(b.status, 200);
    assert.match(b.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  it('never loses the race with the phone saving its session (codes without offline_access)', async () => {
    // oidc-provider would bind such a code to the phone's session, saved after the code: a poll in between failed.
    for (let i = 0; i < 8; i += 1) {
      const dc = await deviceAuthorization(server.publicUrl, 'tv', 'openid');
      const held = heldRedeem(server.publicUrl, dc.device_code, 3);
      await new Promise((r) => setTimeout(r, 50));
      await new Phone().approveDevice(dc.verification_uri_complete);
      const r = await held;
      assert.equal(r.status, 200, `round ${i}: ${JSON.stringify(r.json)}`);
    }
  });

  it('answers access_denied when the phone declines', async () => {
    const dc = await start();
    const held = heldRedeem(server.publicUrl, dc.device_code, 3);
    await new Promise((r) => setTimeout(r, 100));
    await new Phone().approveDevice(dc.verification_uri_complete, 'deny');
    const r = await held;
    assert.equal(r.json.error, 'access_denied');
  });

  it('answers expired_token when the code expires during the wait', async () => {
    const dc = await start();
    await expireDeviceCodeIn(server.db, dc.device_code, 1);
    const t0 = Date.now();
    const r = await heldRedeem(server.publicUrl, dc.device_code, 3);
    assert.equal(r.json.error, 'expired_token');
    assert.ok(Date.now() - t0 < 2900, 'answered at expiry, before the wait ended');
  });

  it('times out with authorization_pending after N seconds (capped), and the next poll is not slow_down', async () => {
    const dc = await start();
    const t0 = Date.now();
    const r = await heldRedeem(server.publicUrl, dc.device_code, 999);
    const took = Date.now() - t0;
    assert.equal(r.json.error, 'authorization_pending');
    assert.equal(r.headers.get('preference-applied'), 'wait=3', 'N is capped by the setting');
    assert.ok(took >= 2900 && took < 9000, `held ${took} ms: the capped wait (3 s), not the 999 s asked for`);
    const next = await postForm(`${server.publicUrl}/token`, { grant_type: DEVICE_GRANT, device_code: dc.device_code, client_id: 'tv' });
    assert.equal(next.json.error, 'authorization_pending');
    const heldAgain = await heldRedeem(server.publicUrl, dc.device_code, 1);
    assert.equal(heldAgain.json.error, 'slow_down', 'a poll right after an accepted poll is still paced');
  });

  it('without Prefer: wait it is plain RFC 8628 polling', async () => {
    const dc = await start();
    const r = await postForm(`${server.publicUrl}/token`, { grant_type: DEVICE_GRANT, device_code: dc.device_code, client_id: 'tv' });
    assert.equal(r.json.error, 'authorization_pending');
    assert.equal(r.headers.get('preference-applied'), null);
  });

  it('streams pending → scanned → approved (masked name only), then ends; JSON gives the state once', async () => {
    const dc = await start();
    assert.match(dc.status_uri, new RegExp(`^${server.issuer}/device/status/[\\w-]+$`));
    assert.ok(!dc.status_uri.includes(dc.device_code));
    const json = async () =>
      (await (await fetch(dc.status_uri, { headers: { accept: 'application/json' } })).json()) as Record<string, unknown>;
    assert.deepEqual(await json(), { state: 'pending' });

    const sse = new SseClient(dc.status_uri);
    await sse.until(() => sse.events.length === 1);
    assert.match(sse.headers?.get('content-type') ?? '', /^text\/event-stream/);
    assert.deepEqual(sse.retries, [2500]);
    const phone = new Phone();
    const page = await phone.request(dc.verification_uri_complete);
    await sse.until(() => sse.events.length === 2);
    assert.deepEqual(await json(), { state: 'scanned' });
    await sse.until(() => /^: keep-alive$/m.test(sse.raw), 3000);
    let next = await phone.submit(page, { confirm: 'yes' });
    next = await phone.submit(next, { username: 'alice', password: 'correct horse battery staple' });
    assert.match(next.html, /Device connected/, 'one decision: no consent page after the confirmation');
    await sse.until(() => sse.ended);
    assert.deepEqual(sse.events, [{ state: 'pending' }, { state: 'scanned' }, { state: 'approved', account: 'A***e' }]);
    for (const secret of [dc.device_code, dc.user_code, 'alice', 'Alice']) assert.ok(!sse.raw.includes(secret), `stream leaks ${secret}`);
  });

  it('streams denied and expired as final states', async () => {
    const denied = await start();
    const s1 = new SseClient(denied.status_uri);
    await s1.until(() => s1.events.length === 1);
    await new Phone().approveDevice(denied.verification_uri_complete, 'deny');
    await s1.until(() => s1.ended);
    assert.deepEqual(s1.events.at(-1), { state: 'denied' });

    const expiring = await start();
    await expireDeviceCodeIn(server.db, expiring.device_code, 1);
    const s2 = new SseClient(expiring.status_uri);
    await s2.until(() => s2.ended, 4000);
    assert.deepEqual(s2.events, [{ state: 'pending' }, { state: 'expired' }]);
  });

  it('refuses waits beyond the instance cap with 503 and Retry-After', async () => {
    const dc = await start();
    const streams = [1, 2, 3, 4].map(() => new SseClient(dc.status_uri));
    for (const s of streams) await s.until(() => s.events.length === 1);
    const over = await heldRedeem(server.publicUrl, dc.device_code, 2);
    assert.equal(over.status, 503);
    assert.equal(over.json.error, 'temporarily_unavailable');
    assert.ok(over.headers.get('retry-after'));
    const sse = await fetch(dc.status_uri, { headers: { accept: 'text/event-stream' } });
    assert.equal(sse.status, 503);
    await sse.body?.cancel();
    for (const s of streams) s.close();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(server.waits.active, 0, 'closed streams give their slots back');
  });

  it('an unknown status handle is a 404', async () => {
    assert.equal((await fetch(`${server.issuer}/device/status/${'x'.repeat(43)}`)).status, 404);
    assert.equal((await fetch(`${server.issuer}/device/status/%3Cscript%3E`)).status, 404);
  });
});
