import assert from 'node:assert/strict';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import { applyPolicy } from '../../src/oidc/registration.js';
import { Phone } from '../helpers/phone.js';
import { adminFetch, deviceAuthorization, redeem, startTestServer } from '../helpers/server.js';

/**
 * Client self-registration (RFC 7591) and management (RFC 7592) with openid-client as the registering client: an
 * operator's initial access token and its policy, enforced where oidc-provider records the client.
 */
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

describe('client self-registration (RFC 7591/7592)', function () {
  this.timeout(60_000);
  let server: Awaited<ReturnType<typeof startTestServer>>;
  /** The server this test started, if any (closed once, after it). */
  let running: { close(): Promise<void> } | undefined;
  let base: string;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });
  const start = async (overrides: Parameters<typeof startTestServer>[0] = {}) => {
    server = await startTestServer(overrides);
    running = server;
    base = server.issuer;
  };
  const admin = (method: string, path: string, body?: unknown) => adminFetch(server, method, path, body);
  const issue = async (body: Record<string, unknown>) => {
    const r = await admin('POST', '/admin/registration-tokens', body);
    assert.equal(r.status, 201, await r.clone().text());
    return (await r.json()) as { id: string; token: string };
  };
  const register = (metadata: Partial<oidc.ClientMetadata>, initialAccessToken?: string) =>
    oidc.dynamicClientRegistration(new URL(base), metadata, undefined, {
      execute: [oidc.allowInsecureRequests],
      ...(initialAccessToken ? { initialAccessToken } : {}),
    });
  /** The audit entries of `action` for a client, once there is one (they are written just after the answer). */
  const audited = async (action: string, clientId: unknown) => {
    for (;;) {
      const entries = (await (await admin('GET', `/admin/audit?type=${action}`)).json()) as Array<{
        action: string;
        client_id: string;
        detail: unknown;
      }>;
      const found = entries.filter((e) => e.action === action && e.client_id === clientId);
      if (found.length) return found;
      await new Promise((r) => setImmediate(r));
    }
  };
  const raw = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}/reg`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('is advertised, and refused to anyone without a token by default', async () => {
    await start();
    const meta = (await (await fetch(`${base}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.equal(meta.registration_endpoint, `${base}/reg`);
    const anonymous = await raw({
      client_name: 'Sneaky',
      grant_types: [DEVICE_GRANT],
      response_types: [],
      token_endpoint_auth_method: 'none',
    });
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { error: string }).error, 'invalid_token');
    const forged = await raw({ client_name: 'Sneaky' }, { authorization: 'Bearer not-a-token' });
    assert.equal(forged.status, 401);
    assert.equal((await server.store.clients.list()).length, 1, 'only the test fixture client exists');
  });

  it("a device-only token registers a device client with Handoff's defaults, which works at once; it cannot register a web client", async () => {
    await start();
    const { id, token } = await issue({
      label: 'CLI fleet',
      policy: { grant_types: [DEVICE_GRANT, 'refresh_token'], scopes: ['openid', 'profile', 'offline_access'], public_only: true },
    });
    const cli = await register(
      {
        client_name: 'Fleet CLI',
        grant_types: [DEVICE_GRANT],
        token_endpoint_auth_method: 'none',
        // Choices this policy does not allow: Handoff's defaults apply instead.
        qr_login: false,
        handoff_number_matching: false,
        id_token_signed_response_alg: 'ES256',
        userinfo_signed_response_alg: 'ES256',
      } as Partial<oidc.ClientMetadata>,
      token,
    );
    const metadata = cli.clientMetadata();
    assert.equal(metadata.id_token_signed_response_alg, 'RS256', 'Handoff signs its ID tokens as for any client');
    assert.equal(metadata.userinfo_signed_response_alg, undefined);
    assert.deepEqual(metadata.grant_types, [DEVICE_GRANT]);
    assert.deepEqual(metadata.response_types, []);
    assert.equal(metadata.scope, 'openid profile offline_access');
    assert.equal(metadata.qr_login, undefined);
    assert.equal(metadata.handoff_number_matching, undefined);
    assert.ok(metadata.registration_access_token, 'RFC 7592 management token');

    // It works in the device flow with openid-client at once; a scope beyond its policy is refused.
    const started = await oidc.initiateDeviceAuthorization(cli, { scope: 'openid profile' });
    assert.match(started.user_code, /^[A-Z]{4}-[A-Z]{4}$/);
    // The phone that is asked about it is told the app named itself (anyone with a token could call it "Netflix").
    const phone = new Phone();
    const confirm = await phone.request(String(started.verification_uri_complete));
    assert.match(confirm.html, /Sign in to Fleet CLI on your device\?/);
    assert.match(confirm.html, /data-field="self-registered"[^>]*>This app registered itself/);
    const fixture = await deviceAuthorization(base);
    assert.doesNotMatch(
      (await new Phone().request(fixture.verification_uri_complete)).html,
      /self-registered/,
      'an operator’s client is not',
    );
    await assert.rejects(
      oidc.initiateDeviceAuthorization(cli, { scope: 'openid email' }),
      (err: { error?: string }) => err.error === 'invalid_scope',
    );
    // The ID token it gets is signed with Handoff's default, not the algorithm it asked for.
    await new Phone().approveDevice(String(started.verification_uri_complete));
    const tokens = await redeem(base, started.device_code, String(metadata.client_id));
    assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
    assert.equal(jose.decodeProtectedHeader(String(tokens.json.id_token)).alg, 'RS256');

    // The admin API and audit trail say who registered it.
    const listed = (await (await admin('GET', '/admin/clients')).json()) as Array<Record<string, unknown>>;
    const entry = listed.find((c) => c.client_id === cli.clientMetadata().client_id);
    assert.equal((entry?.registered_by as { token_id: string; label: string } | undefined)?.token_id, id);
    assert.equal((entry?.registered_by as { label: string } | undefined)?.label, 'CLI fleet');
    const [registeredEntry] = await audited('client.registered', cli.clientMetadata().client_id);
    assert.deepEqual(registeredEntry?.detail, { token_id: id }, 'the trail names the token that let it in');
    assert.ok(!JSON.stringify(registeredEntry).includes(token), 'and never the token itself');

    for (const web of [
      {
        client_name: 'Web',
        redirect_uris: ['https://app.example/cb'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'none',
      },
      { client_name: 'Secret', grant_types: [DEVICE_GRANT], token_endpoint_auth_method: 'client_secret_basic' },
      { client_name: 'Wide', grant_types: [DEVICE_GRANT], token_endpoint_auth_method: 'none', scope: 'openid email' },
      { client_name: 'Exempt', grant_types: [DEVICE_GRANT], token_endpoint_auth_method: 'none', handoff_pkce_exempt: true },
      { client_name: 'Fetcher', grant_types: [DEVICE_GRANT], token_endpoint_auth_method: 'none', jwks_uri: 'http://169.254.169.254/keys' },
    ]) {
      const r = await raw(web, { authorization: `Bearer ${token}` });
      assert.equal(r.status, 400, web.client_name);
      assert.equal(((await r.json()) as { error: string }).error, 'invalid_client_metadata');
    }
    assert.equal((await server.store.clients.list()).length, 2, 'nothing else was registered');
  });

  it('a policy with allow_choices lets a client choose how its ID tokens are signed, once: an update keeps the stored choice', async () => {
    await start();
    const { token } = await issue({
      label: 'choosers',
      policy: { grant_types: [DEVICE_GRANT], scopes: ['openid'], public_only: true, allow_choices: true },
    });
    const cli = await register(
      {
        client_name: 'Picky CLI',
        grant_types: [DEVICE_GRANT],
        token_endpoint_auth_method: 'none',
        id_token_signed_response_alg: 'ES256',
      },
      token,
    );
    const m = cli.clientMetadata();
    const manage = (method: string, rat: unknown, body?: unknown) =>
      fetch(String(m.registration_client_uri), {
        method,
        headers: { authorization: `Bearer ${String(rat)}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    const read = (await (await manage('GET', m.registration_access_token)).json()) as Record<string, unknown>;
    assert.equal(read.id_token_signed_response_alg, 'ES256');
    const started = await oidc.initiateDeviceAuthorization(cli, { scope: 'openid' });
    await new Phone().approveDevice(String(started.verification_uri_complete));
    const tokens = await redeem(base, started.device_code, String(m.client_id));
    assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
    assert.equal(jose.decodeProtectedHeader(String(tokens.json.id_token)).alg, 'ES256');

    const updated = await manage('PUT', m.registration_access_token, {
      client_id: m.client_id,
      client_name: 'Picky CLI',
      grant_types: [DEVICE_GRANT],
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: 'EdDSA',
    });
    assert.equal(updated.status, 200, await updated.clone().text());
    assert.equal(((await updated.json()) as Record<string, unknown>).id_token_signed_response_alg, 'ES256');
    assert.equal((await server.store.clients.find(String(m.client_id)))?.id_token_signed_response_alg, 'ES256');
  });

  it('max_clients, expiry and revocation are enforced where the client is counted, even by parallel registrations', async () => {
    await start();
    const policy = { grant_types: [DEVICE_GRANT], public_only: true };
    const { token } = await issue({ label: 'two only', policy, max_clients: 2 });
    const body = { client_name: 'Racer', grant_types: [DEVICE_GRANT], token_endpoint_auth_method: 'none' };
    const answers = await Promise.all(Array.from({ length: 6 }, () => raw(body, { authorization: `Bearer ${token}` })));
    assert.deepEqual(answers.map((a) => a.status).sort(), [201, 201, 401, 401, 401, 401]);
    const listed = (await (await admin('GET', '/admin/registration-tokens')).json()) as Array<{ registered: number; token?: string }>;
    assert.equal(listed[0]?.registered, 2);
    assert.equal(listed[0]?.token, undefined, 'the token is never shown again');

    const revocable = await issue({ label: 'revoked', policy });
    assert.equal((await admin('DELETE', `/admin/registration-tokens/${revocable.id}`)).status, 204);
    assert.equal((await raw(body, { authorization: `Bearer ${revocable.token}` })).status, 401);

    const late = await issue({ label: 'late', policy, expires_in: 60 });
    await server
      .db('registration_tokens')
      .where({ id: late.id })
      .update({ expires_at: server.db.raw("now() - interval '1 second'") });
    assert.equal((await raw(body, { authorization: `Bearer ${late.token}` })).status, 401);
  });

  it('RFC 7592: a client reads, updates (within its policy) and deletes itself with its rotating registration access token', async () => {
    await start();
    const { token } = await issue({
      label: 'apps',
      policy: { grant_types: ['authorization_code', 'refresh_token'], scopes: ['openid', 'email'] },
    });
    const app = await register(
      { client_name: 'Photo App', redirect_uris: ['https://photos.example/cb'], grant_types: ['authorization_code'] },
      token,
    );
    const m = app.clientMetadata();
    assert.ok(m.client_secret, 'a confidential client gets its secret once');
    const uri = String(m.registration_client_uri);
    let rat = String(m.registration_access_token);
    const manage = (method: string, body?: unknown) =>
      fetch(uri, {
        method,
        headers: { authorization: `Bearer ${rat}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });

    const read = await manage('GET');
    assert.equal(read.status, 200);
    const current = (await read.json()) as Record<string, unknown>;
    assert.equal(current.client_name, 'Photo App');
    assert.equal(current.client_secret, undefined, 'the stored hash is no secret of the client: not shown');

    const {
      client_secret: _secret,
      registration_access_token: _rat,
      registration_client_uri: _uri,
      client_secret_expires_at: _e,
      client_id_issued_at: _i,
      ...rest
    } = current;
    const updated = await manage('PUT', { ...rest, client_name: 'Photo App 2' });
    assert.equal(updated.status, 200, await updated.clone().text());
    const after = (await updated.json()) as Record<string, unknown>;
    assert.equal(after.client_name, 'Photo App 2');
    assert.notEqual(after.registration_access_token, rat, 'the management token rotates on update');
    const old = rat;
    rat = String(after.registration_access_token);
    assert.equal((await fetch(uri, { headers: { authorization: `Bearer ${old}` } })).status, 401, 'the old one is dead');

    const widen = await manage('PUT', { ...rest, client_name: 'Photo App 2', grant_types: ['authorization_code', DEVICE_GRANT] });
    assert.equal(widen.status, 400, 'an update stays within the policy');
    // The client secret still authenticates after the updates (only its hash is stored).
    const tokenAnswer = await fetch(`${base}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${m.client_id}:${m.client_secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'nope', redirect_uri: 'https://photos.example/cb' }),
    });
    assert.equal(((await tokenAnswer.json()) as { error: string }).error, 'invalid_grant', 'authenticated; only the code is wrong');
    const stored = await server.store.clients.find(String(m.client_id));
    assert.match(String(stored?.client_secret), /^sha256:/, 'stored as a hash');

    assert.equal((await manage('DELETE')).status, 204);
    assert.equal(await server.store.clients.find(String(m.client_id)), undefined);
    // The trail has the one update that succeeded and the deletion.
    const deleted = await audited('client.deleted', m.client_id);
    assert.equal(deleted.length, 1);
    assert.equal((await audited('client.updated', m.client_id)).length, 1, 'the refused update is not an update');
  });

  it('what an attack on registration found: names, spent slots, secrets of public clients, updates undoing an operator', async () => {
    await start();
    const { token } = await issue({
      label: 'mixed',
      policy: { grant_types: ['authorization_code', DEVICE_GRANT], scopes: ['openid', 'profile'], allow_choices: true },
      max_clients: 2,
    });
    const bearer = { authorization: `Bearer ${token}` };
    // A refused registration spends no slot of the token.
    const invalid = await raw({ client_name: 'No Redirect', grant_types: ['authorization_code'] }, bearer);
    assert.equal(invalid.status, 400);
    // Handoff's own name and an operator app's name are not for registrants.
    for (const name of ['Handoff account', 'HANDOFF', 'Living  Room TV']) {
      const r = await raw({ client_name: name, grant_types: [DEVICE_GRANT], token_endpoint_auth_method: 'none' }, bearer);
      assert.equal(r.status, 400, name);
    }
    // A public client gets no secret, and its sign-in page says it registered itself.
    const pub = await raw(
      {
        client_name: 'Photo Sharer',
        grant_types: ['authorization_code'],
        redirect_uris: ['https://photos.example/cb'],
        token_endpoint_auth_method: 'none',
      },
      bearer,
    );
    assert.equal(pub.status, 201);
    const made = (await pub.json()) as Record<string, unknown>;
    assert.equal(made.client_secret, undefined);
    assert.equal((await server.store.clients.find(String(made.client_id)))?.client_secret, undefined);
    const signIn = await new Phone().request(
      `${base}/auth?${new URLSearchParams({
        client_id: String(made.client_id),
        response_type: 'code',
        scope: 'openid',
        redirect_uri: 'https://photos.example/cb',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      })}`,
    );
    assert.match(signIn.html, /Sign in to continue to Photo Sharer/);
    assert.match(signIn.html, /data-field="self-registered"/, 'the sign-in page says the app named itself');

    // The second (last) slot is still there: the refusals above spent none.
    const tv = await raw(
      { client_name: 'Den TV', grant_types: [DEVICE_GRANT], token_endpoint_auth_method: 'none', qr_login: true },
      bearer,
    );
    assert.equal(tv.status, 201, await tv.clone().text());
    const tvMeta = (await tv.json()) as Record<string, unknown>;
    // The operator tightens it; the client's own update cannot undo that, nor widen its grants or scopes.
    const patched = await admin('PATCH', `/admin/clients/${String(tvMeta.client_id)}`, {
      handoff_proximity: 'require',
      qr_login: false,
      scope: 'openid',
    });
    assert.equal(patched.status, 200, await patched.clone().text());
    const put = (body: Record<string, unknown>) =>
      fetch(String(tvMeta.registration_client_uri), {
        method: 'PUT',
        headers: { authorization: `Bearer ${String(tvMeta.registration_access_token)}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          client_id: tvMeta.client_id,
          client_name: 'Den TV',
          grant_types: [DEVICE_GRANT],
          token_endpoint_auth_method: 'none',
          ...body,
        }),
      });
    const undo = await put({ qr_login: true, handoff_proximity: 'off' });
    assert.equal(undo.status, 200, await undo.clone().text());
    const rotated = (await undo.json()) as Record<string, unknown>;
    tvMeta.registration_access_token = rotated.registration_access_token;
    const stored = await server.store.clients.find(String(tvMeta.client_id));
    assert.equal(stored?.handoff_proximity, 'require');
    assert.equal(stored?.qr_login, false);
    assert.equal(stored?.scope, 'openid', 'the narrowed scope stays narrow');
    assert.equal((await put({ scope: 'openid profile' })).status, 400, 'an update may not widen scopes');
    assert.equal((await put({ grant_types: [DEVICE_GRANT, 'authorization_code'], redirect_uris: ['https://x.example/cb'] })).status, 400);
  });

  it('open registration, when a policy allows it: public device clients only, limited per address, no one else refused', async () => {
    await start({
      proxy: true,
      registration: {
        open: { grant_types: [DEVICE_GRANT], scopes: ['openid'], public_only: true, allow_choices: false },
        openPerAddress: 2,
      },
    });
    const body = { client_name: 'Open CLI', grant_types: [DEVICE_GRANT], token_endpoint_auth_method: 'none' };
    const from = (ip: string, b: unknown = body) => raw(b, { 'x-forwarded-for': ip });
    assert.equal((await from('203.0.113.5')).status, 201);
    assert.equal((await from('203.0.113.5')).status, 201);
    const third = await from('203.0.113.5');
    assert.equal(third.status, 429);
    assert.ok(Number(third.headers.get('retry-after')) > 0);
    assert.equal((await from('198.51.100.5')).status, 201, 'another address is not refused');
    const web = await from('198.51.100.6', { ...body, grant_types: ['authorization_code'], redirect_uris: ['https://x.example/cb'] });
    assert.equal(web.status, 400, 'the open policy allows device clients only');
    assert.equal((await from('198.51.100.7', { ...body, token_endpoint_auth_method: 'client_secret_basic' })).status, 400);
  });

  it('applyPolicy: what a policy makes of metadata', () => {
    const policy = { grant_types: [DEVICE_GRANT] as const, scopes: ['openid'], public_only: true, allow_choices: false };
    const p: Record<string, unknown> = { qr_login: true, device_flow_scopes: ['openid', 'email'] };
    applyPolicy({ ...policy, grant_types: [DEVICE_GRANT], device_flow_scopes: ['openid'] }, p);
    assert.deepEqual(p, {
      grant_types: [DEVICE_GRANT],
      response_types: [],
      token_endpoint_auth_method: 'none',
      scope: 'openid',
      device_flow_scopes: ['openid'],
      handoff_registered: true,
    });
    const says = (text: RegExp) => (err: unknown) => text.test(String((err as { error_description?: unknown }).error_description));
    assert.throws(() => applyPolicy({ ...policy, grant_types: [DEVICE_GRANT] }, { grant_types: 'device' }), says(/grant_types/));
    assert.throws(() => applyPolicy({ ...policy, grant_types: [DEVICE_GRANT] }, { response_types: ['code'] }), says(/response_types/));
    assert.throws(() => applyPolicy({ ...policy, grant_types: [DEVICE_GRANT] }, { scope: 'openid email' }), says(/scope email/));
  });
});
