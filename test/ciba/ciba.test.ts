import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import { createUser } from '../../src/accounts/users.js';
import { createClient } from '../../src/admin/clients.js';
import { outgoing } from '../../src/oidc/outgoing.js';
import { sha256 } from '../../src/store/hash.js';
import { ageLimitWindows } from '../helpers/fixtures.js';
import { Phone } from '../helpers/phone.js';
import { adminFetch, PASSWORD, postForm, startTestServer } from '../helpers/server.js';

/**
 * Backchannel approval (OpenID CIBA Core 1.0): a relying party names the user, the user's signed-in phone approves on
 * Handoff's pages, and the relying party gets tokens by polling, by a held request, or after a ping to a real HTTP
 * server on loopback. Requests are made as the spec writes them (form posts with client_secret_basic).
 */
const CIBA = 'urn:openid:params:grant-type:ciba';

interface Ping {
  authorization: string | undefined;
  body: { auth_req_id?: string };
}

describe('backchannel approval (CIBA): poll, hold and ping, on the phone', function () {
  this.timeout(60_000);
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let base: string;
  let secrets: Record<string, string>;
  let notify: Server;
  const pings: Ping[] = [];
  let pinged: ((p: Ping) => void) | undefined;

  before(async () => {
    notify = createServer(async (req: IncomingMessage, res) => {
      let text = '';
      for await (const chunk of req) text += String(chunk);
      const ping = { authorization: req.headers.authorization, body: JSON.parse(text || '{}') as { auth_req_id?: string } };
      pings.push(ping);
      pinged?.(ping);
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => notify.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    await new Promise<void>((r) => notify.close(() => r()));
  });
  /** A server with the four test clients (`call-center`, `other-desk`, `bank` asking for phr, `pos` pinged). */
  async function setUp(overrides: Parameters<typeof startTestServer>[0] = {}) {
    server = await startTestServer({ proxy: true, ...overrides });
    base = server.issuer;
    secrets = {};
    const make = async (clientId: string, name: string, extra: Record<string, unknown>) => {
      const c = await createClient(server.store, server.provider(), {
        client_id: clientId,
        client_name: name,
        grant_types: [CIBA],
        response_types: [],
        backchannel_token_delivery_mode: 'poll',
        ...extra,
      });
      secrets[clientId] = String(c.client_secret);
    };
    await make('call-center', 'Call Center', {});
    await make('other-desk', 'Other Desk', {});
    await make('bank', 'Bank Desk', { default_acr_values: ['phr'] });
    await make('pos', 'Shop Till', {
      backchannel_token_delivery_mode: 'ping',
      backchannel_client_notification_endpoint: `https://127.0.0.1:${(notify.address() as AddressInfo).port}/ping`,
    });
    pings.length = 0;
  }
  beforeEach(() => setUp());
  /** The same four clients on a server with other settings (the one beforeEach started is closed first). */
  async function restart(overrides: Parameters<typeof startTestServer>[0]) {
    await server.close();
    await setUp(overrides);
  }
  afterEach(async () => {
    await server.close();
  });

  const basic = (clientId: string) => ({ authorization: `Basic ${Buffer.from(`${clientId}:${secrets[clientId]}`).toString('base64')}` });
  const ask = (clientId: string, fields: Record<string, string>, ip = '203.0.113.10') =>
    postForm(
      `${base}/backchannel`,
      { scope: 'openid', ...fields },
      { ...basic(clientId), 'x-forwarded-for': ip, 'user-agent': 'CallCenter/2.1' },
    );
  const poll = (clientId: string, authReqId: string, headers: Record<string, string> = {}) =>
    postForm(`${base}/token`, { grant_type: CIBA, auth_req_id: authReqId }, { ...basic(clientId), ...headers });
  /** Time, driven: the pacing window of every request has passed. */
  const nextInterval = () => ageLimitWindows(server.db, server.config.device.pollInterval + 1);

  async function signedInPhone(ip = '198.51.100.20'): Promise<Phone> {
    const phone = Phone.at(ip);
    await phone.submit(await phone.request(`${base}/account/signin`), { username: 'alice', password: PASSWORD });
    return phone;
  }
  /** The phone finds the request on "Your devices" and opens it. */
  async function openOnPhone(phone: Phone) {
    const list = await phone.request(`${base}/account/devices`);
    const id = /data-ciba-request="([\w-]+)"/.exec(list.html)?.[1];
    assert.ok(id, 'the account page lists the waiting request');
    assert.match(list.html, /Waiting for you/);
    return phone.request(`${base}/account/requests/${id}`);
  }

  it('is advertised as implemented: the endpoint, poll and ping, no user code', async () => {
    const meta = (await (await fetch(`${base}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.equal(meta.backchannel_authentication_endpoint, `${base}/backchannel`);
    assert.deepEqual(meta.backchannel_token_delivery_modes_supported, ['poll', 'ping']);
    assert.equal(meta.backchannel_user_code_parameter_supported, false);
    assert.ok((meta.grant_types_supported as string[]).includes(CIBA));
  });

  it('poll: pending, paced, then the phone shows who asks and the binding message, approves, and the app gets tokens', async () => {
    const asked = await ask('call-center', { login_hint: 'alice', binding_message: 'Order 42' });
    assert.equal(asked.status, 200, JSON.stringify(asked.json));
    const id = String(asked.json.auth_req_id);
    assert.ok(Number(asked.json.expires_in) > 0);
    assert.equal(asked.json.interval, server.config.device.pollInterval);

    assert.equal((await poll('call-center', id)).json.error, 'authorization_pending');
    assert.equal((await poll('call-center', id)).json.error, 'slow_down', 'a poll before the interval is slowed');

    const phone = await signedInPhone();
    const page = await openOnPhone(phone);
    assert.match(page.html, /Approve Call Center\?/);
    assert.match(page.html, /data-field="binding-message">Order 42</);
    assert.match(page.html, /203\.0\.113\.10/, 'where the request came from');
    assert.match(page.html, /Alice Example \(alice\)/, 'as whom');
    assert.match(page.html, /value="deny"[\s\S]*value="approve"/, 'Decline beside Approve');
    assert.match(page.html, /I didn’t start this/);
    assert.equal((await poll('other-desk', id)).status, 400, 'another client cannot redeem it');

    const done = await phone.submit(page, { decision: 'approve' });
    assert.match(done.html, /Approved/);
    await nextInterval();
    const tokens = await poll('call-center', id);
    assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
    const claims = jose.decodeJwt(String(tokens.json.id_token));
    assert.equal(claims.sub, server.userId);
    assert.ok((claims.amr as string[]).includes('mca'), 'a cross-device approval says so');

    // On "Your devices", revocable like any sign-in; revoking ends the app's access.
    const devices = await phone.request(`${base}/account/devices`);
    assert.match(devices.html, /data-kind="ciba"/);
    assert.match(devices.html, /when the app asked for you by name/);
    assert.doesNotMatch(devices.html, /data-ciba-request=/, 'nothing waits any more');
    await phone.revokeOnAccount(base);
    const userinfo = await fetch(`${base}/me`, { headers: { authorization: `Bearer ${String(tokens.json.access_token)}` } });
    assert.equal(userinfo.status, 401);
    await nextInterval();
    assert.equal((await poll('call-center', id)).json.error, 'invalid_grant', 'an auth_req_id is used once');
  });

  it('a held token request (Prefer: wait) is answered the moment the phone approves', async () => {
    const asked = await ask('call-center', { login_hint: 'alice@example.com' });
    const id = String(asked.json.auth_req_id);
    const phone = await signedInPhone();
    const page = await openOnPhone(phone);
    const held = poll('call-center', id, { prefer: 'wait=25' });
    // The held request is registered before the phone decides: its wait is visible to the instance.
    while (server.waits.byKind.held === 0) await new Promise((r) => setImmediate(r));
    await phone.submit(page, { decision: 'approve' });
    const answer = await held;
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.equal(answer.headers.get('preference-applied'), 'wait=25');
  });

  it('ping: the notification endpoint gets the auth_req_id with the client_notification_token, then the app collects tokens', async () => {
    const asked = await ask('pos', { login_hint: 'alice', client_notification_token: 'till-7-token' });
    assert.equal(asked.status, 200, JSON.stringify(asked.json));
    const id = String(asked.json.auth_req_id);
    const arrived = new Promise<Ping>((resolve) => {
      pinged = resolve;
    });
    const phone = await signedInPhone();
    await phone.submit(await openOnPhone(phone), { decision: 'approve' });
    const ping = await arrived;
    assert.equal(ping.authorization, 'Bearer till-7-token');
    assert.equal(ping.body.auth_req_id, id);
    assert.equal((await poll('pos', id)).status, 200);
  });

  it('decline and "I didn’t start this" answer access_denied; a report reaches the audit trail; expiry answers expired_token', async () => {
    const phone = await signedInPhone();
    const first = String((await ask('call-center', { login_hint: 'alice' })).json.auth_req_id);
    const declined = await phone.submit(await openOnPhone(phone), { decision: 'deny' });
    assert.match(declined.html, /Declined/);
    assert.equal((await poll('call-center', first)).json.error, 'access_denied');

    const second = String((await ask('call-center', { login_hint: 'alice' })).json.auth_req_id);
    const reported = await phone.submit(await openOnPhone(phone), { decision: 'report' });
    assert.match(reported.html, /Thanks for telling us/);
    await nextInterval();
    assert.equal((await poll('call-center', second)).json.error, 'access_denied');
    assert.equal((await server.store.audit.list({ limit: 5, action: 'ciba.reported' })).length, 1);

    const third = String((await ask('call-center', { login_hint: 'alice' })).json.auth_req_id);
    await server
      .db('oidc_store')
      .update({ payload: server.db.raw(`jsonb_set(payload, '{exp}', to_jsonb(extract(epoch from now())::bigint - 1))`) })
      .where({
        model: 'BackchannelAuthenticationRequest',
        key_hash: sha256(third),
      });
    await nextInterval();
    assert.equal((await poll('call-center', third)).json.error, 'expired_token');
  });

  it('an app that asks for phr is approved only from a phone signed in with a passkey', async () => {
    const id = String((await ask('bank', { login_hint: 'alice' })).json.auth_req_id);
    const phone = await signedInPhone();
    const page = await openOnPhone(phone);
    assert.match(page.html, /accepts only a sign-in with a passkey/);
    assert.doesNotMatch(page.html, /value="approve"/);
    const form = /name="csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '';
    const forced = await phone.request(page.url, { form: { csrf: form, decision: 'approve' } });
    assert.equal(forced.status, 403);
    assert.equal((await poll('bank', id)).json.error, 'authorization_pending', 'nothing was decided');
  });

  it('limits: one app cannot bury a phone, whatever hint names the user; an unknown user answers unknown_user_id; no app refuses another', async () => {
    assert.equal((await ask('call-center', { login_hint: 'nobody' })).json.error, 'unknown_user_id');
    for (let i = 0; i < server.config.ciba.maxPerClientAndUser; i += 1)
      assert.equal((await ask('call-center', { login_hint: 'alice' })).status, 200);
    const flooded = await ask('call-center', { login_hint: 'alice' });
    assert.equal(flooded.status, 429);
    assert.equal(flooded.json.error, 'slow_down');
    assert.ok(Number(flooded.headers.get('retry-after')) > 0);

    // An id_token_hint names the user too, and meets the same limits (it is not processed as a login_hint).
    const phone = await signedInPhone();
    const first = String((await ask('other-desk', { login_hint: 'alice' })).json.auth_req_id);
    await phone.submit(await openOnPhone(phone), { decision: 'approve' });
    await nextInterval();
    const idToken = String((await poll('other-desk', first)).json.id_token);
    await server.db('rate_counters').delete();
    for (let i = 0; i < server.config.ciba.maxPerClientAndUser; i += 1)
      assert.equal((await ask('other-desk', { id_token_hint: idToken })).status, 200, 'an id_token_hint is a way to name the user');
    assert.equal((await ask('other-desk', { id_token_hint: idToken })).status, 429, 'and is limited like a login_hint');

    // Other apps still reach alice, and her phone lists each app's newest request once: no app buries another.
    assert.equal((await ask('call-center', { login_hint: 'alice' })).status, 200, 'another app is not refused');
    const list = await phone.request(`${base}/account/devices`);
    assert.equal([...list.html.matchAll(/data-ciba-request=/g)].length, 2, 'one entry per app');
  });

  it('limits: a client over its budget across users is refused (429 slow_down), and no other app is', async () => {
    await restart({ ciba: { ...server.config.ciba, maxPerClient: 3 } });
    const ids: Record<string, string> = {};
    for (const username of ['bob', 'carol', 'dave'])
      ids[username] = (await createUser(server.store, { username, password: PASSWORD }, server.config.scrypt)).id;
    for (const user of ['alice', 'bob', 'carol']) assert.equal((await ask('call-center', { login_hint: user })).status, 200, user);
    const over = await ask('call-center', { login_hint: 'dave' });
    assert.equal(over.status, 429, JSON.stringify(over.json));
    assert.equal(over.json.error, 'slow_down');
    assert.match(String(over.json.error_description), /from this client/);
    assert.ok(Number(over.headers.get('retry-after')) > 0);
    const dave = ids.dave ?? '';
    assert.deepEqual(await server.store.backchannel.pending(dave), [], 'the refused request was not recorded');
    assert.equal((await ask('other-desk', { login_hint: 'dave' })).status, 200, 'another app is not refused');
    assert.equal((await server.store.backchannel.pending(dave)).length, 1);
  });

  it('an unknown login_hint spends the client’s budget as a known one does, in the same statements, and is refused alike', async () => {
    await restart({ ciba: { ...server.config.ciba, maxPerClient: 4 } });
    assert.equal((await ask('call-center', { login_hint: 'nobody' })).json.error, 'unknown_user_id');
    assert.equal((await ask('call-center', { login_hint: 'alice' })).status, 200);
    assert.equal((await ask('call-center', { login_hint: 'nobody-else' })).json.error, 'unknown_user_id');
    assert.equal((await ask('call-center', { login_hint: 'alice' })).status, 200);
    // Two guesses and two requests for alice: the budget of four is spent, and both kinds of hint are now refused.
    const statements = async (hint: string) => {
      const before = server.store.statementCount();
      const answer = await ask('call-center', { login_hint: hint });
      assert.equal(answer.status, 429, `${hint}: ${JSON.stringify(answer.json)}`);
      assert.equal(answer.json.error, 'slow_down');
      return server.store.statementCount() - before;
    };
    const known = await statements('alice');
    const unknown = await statements('nobody');
    assert.equal(known, unknown, 'a refused known user costs what a refused guess costs: no more is read for a name that is someone');
  });

  it('an unconfirmed address names no one: unknown_user_id', async () => {
    await server.store.users.insert({
      id: 'erin',
      username: 'erin',
      passwordHash: null,
      name: null,
      email: 'erin@example.com',
      emailVerified: false,
    });
    const answer = await ask('call-center', { login_hint: 'erin@example.com' });
    assert.equal(answer.status, 400, JSON.stringify(answer.json));
    assert.equal(answer.json.error, 'unknown_user_id');
    assert.equal((await ask('call-center', { login_hint: 'erin' })).status, 200, 'her username does');
  });

  it('acr_values=phr in the request: a phone signed in with a password cannot approve it, and it stays pending', async () => {
    const asked = await ask('call-center', { login_hint: 'alice', acr_values: 'phr' });
    assert.equal(asked.status, 200, JSON.stringify(asked.json));
    const id = String(asked.json.auth_req_id);
    const phone = await signedInPhone();
    const page = await openOnPhone(phone);
    assert.match(page.html, /data-field="needs-passkey"/);
    assert.doesNotMatch(page.html, /value="approve"/);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '';
    const forced = await phone.request(page.url, { form: { csrf, decision: 'approve' } });
    assert.equal(forced.status, 403);
    assert.equal((await poll('call-center', id)).json.error, 'authorization_pending', 'nothing was decided');
    assert.equal((await server.store.backchannel.pending(server.userId))[0]?.status, 'pending');
  });

  it('the approval page shows what the app asks for and how long ago it asked', async () => {
    await ask('call-center', { login_hint: 'alice', scope: 'openid profile' });
    const phone = await signedInPhone();
    const fresh = await openOnPhone(phone);
    assert.match(fresh.html, /<ul class="scopes">[\s\S]*<li>Your name and username<\/li>/, 'the profile scope, in words');
    assert.match(fresh.html, /data-field="when">just now</);
    await server.db('backchannel_requests').update({ created_at: server.db.raw("created_at - interval '3 minutes'") });
    const later = await openOnPhone(phone);
    assert.match(later.html, /data-field="when">3 minutes ago</);
  });

  it('a binding message is what it looks like: no control or direction-override characters', async () => {
    for (const bad of ['\u202Eevil', 'a\u0000b', 'x'.repeat(65), 'line\nbreak'])
      assert.equal(
        (await ask('call-center', { login_hint: 'alice', binding_message: bad })).json.error,
        'invalid_binding_message',
        JSON.stringify(bad),
      );
    assert.equal((await ask('call-center', { login_hint: 'alice', binding_message: '订单 42 · Order 42' })).status, 200);
  });

  it('an operator cannot make a ping client with a notification endpoint on loopback unless the issuer is on loopback', async () => {
    await server.close();
    server = await startTestServer({ issuer: 'https://id.example.com' });
    const ciba = (endpoint: string) => ({
      client_name: 'Till',
      grant_types: [CIBA],
      response_types: [],
      backchannel_token_delivery_mode: 'ping',
      backchannel_client_notification_endpoint: endpoint,
    });
    for (const host of ['127.0.0.1:8443', 'localhost', '[::1]:9000']) {
      const refused = await adminFetch(server, 'POST', '/admin/clients', ciba(`https://${host}/ping`));
      assert.equal(refused.status, 400, host);
      assert.match(JSON.stringify(await refused.json()), /backchannel_client_notification_endpoint/);
    }
    assert.equal((await adminFetch(server, 'POST', '/admin/clients', ciba('https://till.example.com/ping'))).status, 201);
    assert.equal((await server.store.clients.list()).length, 2, 'the fixture and the one allowed');
  });

  it('a ping goes to loopback only when the issuer is on loopback, and then over plain http', async () => {
    await assert.rejects(outgoing('https://id.example.com', 'https://127.0.0.1:9/ping', { method: 'POST' }), /loopback/);
    const port = (notify.address() as AddressInfo).port;
    const answer = await outgoing('http://localhost:3000', `https://127.0.0.1:${port}/ping`, { method: 'POST', body: '{}' });
    assert.equal(answer.status, 204);
  });
});

describe('backchannel approval with a standard client library (openid-client)', function () {
  this.timeout(60_000);
  it('initiates, the phone approves, and openid-client polls its tokens as the spec says', async () => {
    const server = await startTestServer({ device: { pollInterval: 1 } });
    try {
      const c = await createClient(server.store, server.provider(), {
        client_id: 'agent',
        client_name: 'Assistant',
        grant_types: [CIBA],
        response_types: [],
        backchannel_token_delivery_mode: 'poll',
      });
      const meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as oidc.ServerMetadata;
      const config = new oidc.Configuration(meta, 'agent', String(c.client_secret));
      oidc.allowInsecureRequests(config);
      const started = await oidc.initiateBackchannelAuthentication(config, {
        scope: 'openid profile',
        login_hint: 'alice',
        binding_message: 'Book 2 seats',
      });
      assert.equal(started.interval, 1);
      const phone = new Phone();
      await phone.submit(await phone.request(`${server.issuer}/account/signin`), { username: 'alice', password: PASSWORD });
      const list = await phone.request(`${server.issuer}/account/devices`);
      const page = await phone.request(`${server.issuer}/account/requests/${/data-ciba-request="([\w-]+)"/.exec(list.html)?.[1]}`);
      assert.match(page.html, /Book 2 seats/);
      await phone.submit(page, { decision: 'approve' });
      const tokens = await oidc.pollBackchannelAuthenticationGrant(config, started);
      assert.equal(tokens.claims()?.sub, server.userId);
      assert.match(String(tokens.scope), /profile/);
    } finally {
      await server.close();
    }
  });
});
