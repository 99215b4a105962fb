import assert from 'node:assert/strict';
import { createClient } from '../../src/admin/clients.js';
import { sha256 } from '../../src/store/hash.js';
import { endLimitWindows } from '../helpers/fixtures.js';
import { Phone } from '../helpers/phone.js';
import { rawRequest } from '../helpers/raw-http.js';
import { DEVICE_GRANT, postForm, redeem, startTestServer } from '../helpers/server.js';

/**
 * Third security review, findings 3, 4, 5, 6 and 11: rules in front of oidc-provider that read a request otherwise
 * than the library did were skipped while the library acted. Each attack is sent as the attacker sent it (a chunked
 * body, another charset, `confirm=1`, `Origin: null`, two client ids), and must meet the same rule as the plain
 * request.
 */
describe('security: one reading of each request (third review, 3-6 and 11)', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  const tv = '203.0.113.10';
  const nearPhone = '203.0.113.77';
  const farPhone = '198.51.100.5';
  let secret = '';

  before(async () => {
    server = await startTestServer({ proxy: true, device: { maxAuthorizationsPerClient: 3 } });
    for (const [id, extra] of [
      ['tv-near', { handoff_proximity: 'require' }],
      ['tv-narrow', { device_flow_scopes: ['openid'] }],
      ['tv-breaker', {}],
    ] as const) {
      await createClient(server.store, server.provider(), {
        client_id: id,
        client_name: `TV ${id}`,
        token_endpoint_auth_method: 'none',
        grant_types: [DEVICE_GRANT],
        response_types: [],
        ...extra,
      });
    }
    const confidential = await createClient(server.store, server.provider(), {
      client_id: 'tv-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [DEVICE_GRANT],
      response_types: [],
    });
    secret = String(confidential.client_secret);
  });
  beforeEach(() => endLimitWindows(server.db));
  after(() => server.close());

  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  /** A form POST from `ip`, chunked or with a length, in UTF-8 or another declared charset. */
  function send(
    path: string,
    fields: Record<string, string>,
    opts: { ip: string; chunked?: boolean; charset?: 'utf-16le'; headers?: Record<string, string>; cookies?: Phone } = { ip: tv },
  ) {
    const text = form(fields);
    const body = opts.charset ? Buffer.from(text, 'utf16le') : Buffer.from(text);
    const cookie = opts.cookies ? [...opts.cookies.cookies].map(([k, v]) => `${k}=${v}`).join('; ') : undefined;
    return rawRequest(`${server.publicUrl}${path}`, {
      method: 'POST',
      chunked: opts.chunked ?? false,
      body,
      headers: {
        host: new URL(server.publicUrl).host,
        'content-type': `application/x-www-form-urlencoded${opts.charset ? `; charset=${opts.charset}` : ''}`,
        'x-forwarded-for': opts.ip,
        accept: 'application/json',
        ...(cookie ? { cookie } : {}),
        ...opts.headers,
      },
    });
  }
  const json = (r: { text: string }) => JSON.parse(r.text) as Record<string, unknown>;
  async function deviceCode(clientId: string, scope = 'openid') {
    const r = await postForm(`${server.publicUrl}/device/auth`, { client_id: clientId, scope }, { 'x-forwarded-for': tv });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json as { device_code: string; user_code: string; verification_uri_complete: string };
  }
  const codes = async () => Number((await server.db('oidc_store').where({ model: 'DeviceCode' }).count<{ n: string }[]>({ n: '*' }))[0]?.n);

  it('3: user-code guesses in a chunked (or UTF-16) body are counted like any other, and past the limit even a live code is refused', async () => {
    const live = await deviceCode('tv');
    const attacker = Phone.at(farPhone);
    // The form token of this browser's session, from a confirmation page of a code the attacker started itself.
    const entry = await attacker.request((await deviceCode('tv')).verification_uri_complete);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(entry.html)?.[1] ?? '';
    assert.ok(xsrf);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      const guess = { xsrf, user_code: `BCDF${'GHJK'.charAt(i % 4)}LMN` };
      const r = await send('/device', guess, {
        ip: farPhone,
        chunked: true,
        cookies: attacker,
        ...(i % 2 ? { charset: 'utf-16le' as const } : {}),
      });
      statuses.push(r.status);
    }
    // The session's budget (5) is spent by five misses, whatever their framing; the sixth is refused before lookup.
    assert.deepEqual(statuses, [400, 400, 400, 400, 400, 429]);
    const counted = await server.db('rate_counters').where({ bucket: 'user-code:session' });
    assert.equal(counted.length, 1, 'the misses were counted against the session');
    const found = await send('/device', { xsrf, user_code: live.user_code }, { ip: farPhone, chunked: true, cookies: attacker });
    assert.equal(found.status, 429, 'past the limit a chunked guess does not find the live code');
    assert.doesNotMatch(found.text, /name="confirm"/);
  });

  it('4: device_flow_scopes, the openid default and the client breaker read chunked and UTF-16 bodies too', async () => {
    const before = await codes();
    for (const variant of [{ chunked: true }, { charset: 'utf-16le' as const }, { chunked: true, charset: 'utf-16le' as const }]) {
      const r = await send(
        '/device/auth',
        { client_id: 'tv-narrow', scope: 'openid profile email offline_access' },
        { ip: tv, ...variant },
      );
      assert.equal(r.status, 400, `${JSON.stringify(variant)}: ${r.text}`);
      assert.equal(json(r).error, 'invalid_scope');
    }
    assert.equal(await codes(), before, 'no code was minted for scopes outside the list');
    // No scope, chunked: the code asks for openid, which is what the phone shows and the device gets.
    const bare = await send('/device/auth', { client_id: 'tv-narrow' }, { ip: tv, chunked: true });
    assert.equal(bare.status, 200, bare.text);
    const row = await server
      .db('oidc_store')
      .where({ model: 'DeviceCode', key_hash: sha256(String(json(bare).device_code)) })
      .first<{ payload: { params?: { scope?: string } } }>();
    assert.equal(row?.payload.params?.scope, 'openid');
    // The per-client circuit breaker (3 here) counts chunked authorizations from many addresses.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      statuses.push(
        (await send('/device/auth', { client_id: 'tv-breaker', scope: 'openid' }, { ip: `198.51.100.${20 + i}`, chunked: true })).status,
      );
    }
    assert.deepEqual(statuses, [200, 200, 200, 429]);
  });

  it('5: under `require`, confirm=1 (or a chunked confirm) from another network approves nothing', async () => {
    const dc = await deviceCode('tv-near');
    const far = Phone.at(farPhone);
    const page = await far.request(dc.verification_uri_complete);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '';
    for (const [confirm, chunked] of [
      ['1', false],
      ['true', true],
      ['yes', true],
    ] as const) {
      const r = await send('/device', { xsrf, user_code: dc.user_code, confirm }, { ip: farPhone, chunked, cookies: far });
      assert.equal(r.status, 403, `confirm=${confirm}${chunked ? ' chunked' : ''}: ${r.status}`);
    }
    assert.equal((await redeem(server.publicUrl, dc.device_code, 'tv-near')).json.error, 'authorization_pending', 'nothing was approved');
  });

  it('5: the rule is met where the approval is recorded: Approve on the near network, then sign in from another, is refused', async () => {
    const dc = await deviceCode('tv-near');
    const phone = Phone.at(nearPhone);
    let page = await phone.request(dc.verification_uri_complete);
    page = await phone.submit(page, { confirm: 'yes' });
    assert.match(page.html, /name="password"/, 'not signed in yet: the sign-in page');
    // The phone leaves the TV's network (or the form is relayed) before the sign-in resumes the approval.
    phone.headers['x-forwarded-for'] = farPhone;
    page = await phone.submit(page, { username: 'alice', password: 'correct horse battery staple' });
    assert.doesNotMatch(page.html, /Device connected/);
    assert.equal((await redeem(server.publicUrl, dc.device_code, 'tv-near')).json.error, 'access_denied', 'nothing was issued');
  });

  it('6: Origin: null is refused by the client-based CORS check, never answered *, and mints nothing', async () => {
    const before = await codes();
    const minted = await send('/device/auth', { client_id: 'tv', scope: 'openid' }, { ip: tv, headers: { origin: 'null' } });
    assert.equal(minted.status, 400, minted.text);
    assert.equal(minted.headers['access-control-allow-origin'], undefined);
    assert.equal(await codes(), before);
    const dc = await deviceCode('tv');
    const poll = await send(
      '/token',
      { grant_type: DEVICE_GRANT, device_code: dc.device_code, client_id: 'tv' },
      { ip: tv, headers: { origin: 'null' } },
    );
    assert.equal(poll.status, 400);
    assert.notEqual(json(poll).error, 'authorization_pending', 'the lane does not answer a request its CORS rule refuses');
    assert.equal(poll.headers['access-control-allow-origin'], undefined);
    for (const path of ['/.well-known/openid-configuration', '/jwks']) {
      const open = await rawRequest(`${server.publicUrl}${path}`, { headers: { host: new URL(server.publicUrl).host, origin: 'null' } });
      assert.equal(open.status, 200);
      assert.equal(open.headers['access-control-allow-origin'], undefined, path);
    }
  });

  it('11: the lane refuses what the library refuses: two client ids, a media type that is not exactly the form type', async () => {
    const dc = await deviceCode('tv');
    const basic = `Basic ${Buffer.from(`tv-secret:${secret}`).toString('base64')}`;
    const mixed = await send(
      '/token',
      { grant_type: DEVICE_GRANT, device_code: dc.device_code, client_id: 'tv' },
      { ip: tv, headers: { authorization: basic } },
    );
    assert.equal(mixed.status, 400);
    assert.equal(json(mixed).error, 'invalid_request', mixed.text);
    const odd = await rawRequest(`${server.publicUrl}/token`, {
      method: 'POST',
      headers: { host: new URL(server.publicUrl).host, 'content-type': 'application/x-www-form-urlencoded-x', 'x-forwarded-for': tv },
      body: form({ grant_type: DEVICE_GRANT, device_code: dc.device_code, client_id: 'tv' }),
    });
    assert.equal(odd.status, 400);
    assert.equal(json(odd).error, 'invalid_request', odd.text);
  });

  it('11: a held request resets pacing only after holding for the interval: Prefer: wait=1 on every poll meets slow_down', async () => {
    const dc = await deviceCode('tv');
    const fields = { grant_type: DEVICE_GRANT, device_code: dc.device_code, client_id: 'tv' };
    const first = await send('/token', fields, { ip: tv, headers: { prefer: 'wait=1' } });
    assert.equal(json(first).error, 'authorization_pending');
    const second = await send('/token', fields, { ip: tv, headers: { prefer: 'wait=1' } });
    assert.equal(json(second).error, 'slow_down', 'a one-second hold is not the five-second pause between polls');
  });
});
