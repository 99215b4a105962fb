import assert from 'node:assert/strict';
import { SseClient } from '../helpers/sse.js';
import { DEVICE_GRANT, postForm, startTestServer } from '../helpers/server.js';

/** Finding 2: one caller must not take the wait slots every device needs, and a slot is freed when its client goes. */
const from = (address: string) => ({ 'x-forwarded-for': address });
const ATTACKER = '203.0.113.9';

async function until(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('security: wait slots are shared fairly', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  const open: SseClient[] = [];
  before(async () => {
    server = await startTestServer({
      proxy: true,
      realtime: { maxConcurrentWaits: 20, maxWaitsPerAddress: 3, maxWaitsPerHandoff: 2 },
      device: { maxAuthorizationsPerIp: 1000 },
    });
  });
  afterEach(async () => {
    for (const s of open.splice(0)) s.close();
    await until('every slot to be given back', () => server.waits.active === 0);
  });
  after(() => server.close());

  const authorize = async (address: string) => {
    const r = await postForm(`${server.publicUrl}/device/auth`, { client_id: 'tv', scope: 'openid' }, from(address));
    return r.json as { device_code: string; status_uri: string };
  };
  const stream = (url: string, address: string) => {
    const s = new SseClient(url, from(address));
    open.push(s);
    return s;
  };
  const streamStatus = async (s: SseClient) => {
    await until('a status', () => s.status !== 0 || s.ended);
    return s.status;
  };

  it('one address holds at most its share, one code at most its own; refusals are 429 with Retry-After', async () => {
    const code = await authorize(ATTACKER);
    // One after the other, each stream's answer known before the next opens.
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) statuses.push(await streamStatus(stream(code.status_uri, ATTACKER)));
    assert.deepEqual(statuses, [200, 200, 429], 'per code: 2');
    const other = await authorize(ATTACKER);
    const more: number[] = [];
    for (let i = 0; i < 2; i += 1) more.push(await streamStatus(stream(other.status_uri, ATTACKER)));
    assert.deepEqual(more, [200, 429], 'per address: 3 in all');
    const refused = await fetch(other.status_uri, { headers: { accept: 'text/event-stream', ...from(ATTACKER) } });
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    await refused.body?.cancel();

    // A TV elsewhere still gets its stream and its held request.
    const tv = await authorize('198.51.100.7');
    const tvStream = stream(tv.status_uri, '198.51.100.7');
    assert.equal(await streamStatus(tvStream), 200);
    await tvStream.until(() => tvStream.events.length === 1);
    const held = fetch(`${server.publicUrl}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: tv.device_code, client_id: 'tv' }),
      headers: { prefer: 'wait=1', ...from('198.51.100.7') },
    });
    const answer = await held;
    assert.equal(answer.status, 400);
    assert.equal(answer.headers.get('preference-applied'), 'wait=1', 'the TV was held, not refused');
    assert.equal(((await answer.json()) as { error: string }).error, 'authorization_pending');
  });

  it('held token requests are capped the same way', async () => {
    const codes = [await authorize(ATTACKER), await authorize(ATTACKER), await authorize(ATTACKER), await authorize(ATTACKER)];
    const controllers = codes.slice(0, 3).map(() => new AbortController());
    const held = controllers.map((c, i) =>
      fetch(`${server.publicUrl}/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: codes[i]?.device_code ?? '', client_id: 'tv' }),
        headers: { prefer: 'wait=30', ...from(ATTACKER) },
        signal: c.signal,
      }).catch(() => undefined),
    );
    await until('three held requests', () => server.waits.active === 3);
    const fourth = await postForm(
      `${server.publicUrl}/token`,
      { grant_type: DEVICE_GRANT, device_code: codes[3]?.device_code ?? '', client_id: 'tv' },
      { prefer: 'wait=30', ...from(ATTACKER) },
    );
    assert.equal(fourth.status, 429, 'the address holds its share already');
    assert.equal(fourth.json.error, 'slow_down');
    assert.ok(Number(fourth.headers.get('retry-after')) > 0);
    for (const c of controllers) c.abort();
    await Promise.all(held);
  });

  it('a held request gives its slot back the moment its client hangs up', async () => {
    const code = await authorize('198.51.100.8');
    const controller = new AbortController();
    const held = fetch(`${server.publicUrl}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: code.device_code, client_id: 'tv' }),
      headers: { prefer: 'wait=30', ...from('198.51.100.8') },
      signal: controller.signal,
    }).catch(() => undefined);
    await until('the request to be held', () => server.waits.active === 1);
    controller.abort();
    await held;
    await until('the slot to be given back (long before the 30 s wait would end)', () => server.waits.active === 0, 2000);
  });
});
