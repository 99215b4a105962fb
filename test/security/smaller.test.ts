import assert from 'node:assert/strict';
import { endLimitWindows } from '../helpers/fixtures.js';
import { sha256 } from '../../src/store/hash.js';
import { Phone } from '../helpers/phone.js';
import { adminFetch, deviceAuthorization, PASSWORD, postForm, redeem, startTestServer } from '../helpers/server.js';

/** Finding 8 and the smaller findings of the second review. */
describe('security: the smaller findings', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer({ proxy: true, device: { maxAuthorizationsPerIp: 1000, maxQrImagesPerIp: 5 } });
  });
  beforeEach(() => endLimitWindows(server.db));
  after(() => server.close());

  it('revoking one device never revokes another approved from the same phone session', async () => {
    const phone = new Phone();
    const [a, b] = [await deviceAuthorization(server.publicUrl), await deviceAuthorization(server.publicUrl)];
    await phone.approveDevice(a.verification_uri_complete);
    await phone.approveDevice(b.verification_uri_complete);
    const [ta, tb] = [await redeem(server.publicUrl, a.device_code), await redeem(server.publicUrl, b.device_code)];
    const me = (t: typeof ta) => fetch(`${server.publicUrl}/me`, { headers: { authorization: `Bearer ${t.json.access_token}` } });
    const devices = await phone.request(`${server.publicUrl}/account/devices`);
    assert.match(devices.html, /data-approval=/);
    await phone.revokeOnAccount(server.publicUrl, sha256(a.device_code));
    assert.equal((await me(ta)).status, 401, 'the revoked device is cut off');
    assert.equal((await me(tb)).status, 200, 'the other device keeps working');
    const after = await phone.request(`${server.publicUrl}/account/devices`);
    assert.ok(after.html.includes(`data-approval="${sha256(b.device_code)}"`), 'and is still listed, with its own Revoke');
  });

  it('"Your devices" drops an entry whose grant oidc-provider revoked (a replayed refresh token)', async () => {
    const phone = new Phone();
    const dc = await deviceAuthorization(server.publicUrl);
    await phone.approveDevice(dc.verification_uri_complete);
    const tokens = await redeem(server.publicUrl, dc.device_code);
    const refresh = { grant_type: 'refresh_token', refresh_token: String(tokens.json.refresh_token), client_id: 'tv' };
    assert.equal((await postForm(`${server.publicUrl}/token`, refresh)).status, 200);
    assert.equal((await postForm(`${server.publicUrl}/token`, refresh)).json.error, 'invalid_grant', 'the rotated token replayed');
    const devices = await phone.request(`${server.publicUrl}/account/devices`);
    assert.ok(!devices.html.includes(`data-approval="${sha256(dc.device_code)}"`));
  });

  it('an anonymous visit to the code-entry page stores a session for an hour, not for days', async () => {
    const before = new Set((await server.db('oidc_store').select('key_hash').where({ model: 'Session' })).map((r) => r.key_hash));
    const res = await fetch(`${server.publicUrl}/device`);
    assert.equal(res.status, 200);
    const rows = (await server.db('oidc_store').select('key_hash', 'expires_at').where({ model: 'Session' })).filter(
      (r) => !before.has(r.key_hash),
    );
    assert.equal(rows.length, 1);
    const lives = new Date(rows[0]?.expires_at).getTime() - Date.now();
    assert.ok(lives <= server.config.interactionTtl * 1000 + 5000, `lives ${Math.round(lives / 1000)} s`);
  });

  it('pages that carry a CSRF token, a ticket or account data are never cached', async () => {
    const phone = new Phone();
    const entry = await phone.request(`${server.publicUrl}/device`);
    const dc = await deviceAuthorization(server.publicUrl);
    const confirm = await phone.request(dc.verification_uri_complete);
    const signIn = await phone.request(`${server.publicUrl}/account/devices`);
    const devices = await phone.submit(signIn, { username: 'alice', password: PASSWORD });
    for (const [name, page] of Object.entries({ entry, confirm, signIn, devices })) {
      assert.match(String(page.headers.get('cache-control')), /no-store/, name);
    }
  });

  it('QR images are limited per address and rendered once per code', async () => {
    const dc = (await deviceAuthorization(server.publicUrl)) as Awaited<ReturnType<typeof deviceAuthorization>> & {
      verification_uri_complete_qr: string;
    };
    const png = dc.verification_uri_complete_qr.replace(/\.svg$/, '.png');
    const get = () => fetch(png, { headers: { 'x-forwarded-for': '203.0.113.50' } });
    const bodies: Buffer[] = [];
    for (let i = 0; i < 5; i += 1) bodies.push(Buffer.from(await (await get()).arrayBuffer()));
    assert.ok(
      bodies.every((b) => b.equals(bodies[0] as Buffer)),
      'the same bytes every time',
    );
    const limited = await get();
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal((await fetch(png, { headers: { 'x-forwarded-for': '198.51.100.50' } })).status, 200, 'another address is not limited');
  });

  it('rotating the cookie keys signs nobody out', async () => {
    const phone = new Phone();
    const signIn = await phone.request(`${server.publicUrl}/account/devices`);
    await phone.submit(signIn, { username: 'alice', password: PASSWORD });
    const rotated = await adminFetch(server, 'POST', '/admin/cookie-keys/rotate');
    assert.equal(rotated.status, 200);
    const still = await phone.request(`${server.publicUrl}/account/devices`);
    assert.match(still.html, /<h1>Your devices<\/h1>/, 'the session signed with the old key still works');
    const fresh = new Phone();
    const page = await fresh.request(`${server.publicUrl}/account/devices`);
    const after = await fresh.submit(page, { username: 'alice', password: PASSWORD });
    assert.match(after.html, /<h1>Your devices<\/h1>/, 'new sessions are signed with the new key');
  });
});
