import assert from 'node:assert/strict';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { Phone } from '../helpers/phone.js';
import { createClient } from '../../src/admin/clients.js';
import { deviceAuthorization, PASSWORD, postForm, redeem, startTestServer } from '../helpers/server.js';

describe('device authorization grant, end to end', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('issues ID, access and refresh tokens to a device driven by openid-client once the phone approves', async () => {
    const config = await oidc.discovery(new URL(server.issuer), 'tv', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const metadata = config.serverMetadata();
    assert.equal(metadata.device_authorization_endpoint, `${server.issuer}/device/auth`);

    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile email offline_access' });
    assert.match(started.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    assert.equal(started.expires_in, 600);
    assert.ok(
      started.verification_uri_complete?.includes(encodeURIComponent(started.user_code)) ||
        started.verification_uri_complete?.includes(started.user_code),
    );

    const done = await new Phone().approveDevice(started.verification_uri_complete as string);
    assert.equal(done.status, 200);
    assert.match(done.html, /Device connected/);

    const tokens = await oidc.pollDeviceAuthorizationGrant(config, { ...started, interval: 0 });
    assert.ok(tokens.access_token);
    assert.ok(tokens.refresh_token, 'offline_access was granted, so a refresh token is issued');
    const idToken = tokens.id_token as string;
    assert.equal(decodeProtectedHeader(idToken).alg, 'RS256', 'RS256 is the default of OpenID Connect Registration');
    const { payload } = await jwtVerify(idToken, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), {
      issuer: server.issuer,
      audience: 'tv',
    });
    assert.equal(payload.sub, server.userId);

    const info = await oidc.fetchUserInfo(config, tokens.access_token, server.userId);
    assert.deepEqual(
      { sub: info.sub, name: info.name, preferred_username: info.preferred_username, email: info.email },
      { sub: server.userId, name: 'Alice Example', preferred_username: 'alice', email: 'alice@example.com' },
    );

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
    assert.ok(refreshed.access_token);
    assert.notEqual(refreshed.access_token, tokens.access_token);
  });

  it('signs ID tokens with the algorithm a client asks for (ES256, EdDSA), RS256 otherwise', async () => {
    for (const alg of ['ES256', 'EdDSA']) {
      const clientId = `tv-${alg.toLowerCase()}`;
      await createClient(server.store, server.provider(), {
        client_id: clientId,
        token_endpoint_auth_method: 'none',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
        response_types: [],
        id_token_signed_response_alg: alg,
      });
      const dc = await deviceAuthorization(server.publicUrl, clientId, 'openid');
      await new Phone().approveDevice(dc.verification_uri_complete);
      const tokens = await redeem(server.publicUrl, dc.device_code, clientId);
      assert.equal(decodeProtectedHeader(String(tokens.json.id_token)).alg, alg);
    }
  });

  it('asks for openid when a device sends no scope or an empty one, so what the user approves is what it gets', async () => {
    const forms: Array<Record<string, string>> = [{ client_id: 'tv' }, { client_id: 'tv', scope: '' }, { client_id: 'tv', scope: '  ' }];
    for (const form of forms) {
      const started = await postForm(`${server.publicUrl}/device/auth`, form);
      assert.equal(started.status, 200, JSON.stringify(started.json));
      const page = await new Phone().approveDevice(String(started.json.verification_uri_complete));
      assert.match(page.html, /Device connected/);
      const tokens = await redeem(server.publicUrl, String(started.json.device_code));
      assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
      assert.equal(tokens.json.scope, 'openid');
      assert.ok(tokens.json.id_token);
    }
  });

  it('lists in discovery the authentication methods its revocation and introspection endpoints accept', async () => {
    const metadata = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    const methods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'];
    assert.deepEqual(metadata.token_endpoint_auth_methods_supported, methods);
    assert.deepEqual(metadata.revocation_endpoint_auth_methods_supported, methods);
    assert.deepEqual(metadata.introspection_endpoint_auth_methods_supported, methods);
    assert.deepEqual(metadata.acr_values_supported, ['phr', '0'], 'phishing-resistant (a passkey) or not');
    assert.deepEqual([...(metadata.id_token_signing_alg_values_supported as string[])].sort(), ['ES256', 'EdDSA', 'RS256']);
  });

  it('answers authorization_pending until approval, and a redeemed code never works again', async () => {
    const dc = await deviceAuthorization(server.publicUrl);
    const pending = await redeem(server.publicUrl, dc.device_code);
    assert.equal(pending.status, 400);
    assert.equal(pending.json.error, 'authorization_pending');

    await new Phone().approveDevice(dc.verification_uri_complete);
    const first = await redeem(server.publicUrl, dc.device_code);
    assert.equal(first.status, 200);
    const again = await redeem(server.publicUrl, dc.device_code);
    assert.equal(again.status, 400);
    assert.equal(again.json.error, 'invalid_grant');
  });

  it('the decision sent again (Back, then resubmit) says the device is signed in, and approves nothing more', async () => {
    const dc = await deviceAuthorization(server.publicUrl);
    const phone = new Phone();
    await phone.submit(await phone.request(`${server.publicUrl}/account/devices`), { username: 'alice', password: PASSWORD });
    const confirm = await phone.request(dc.verification_uri_complete);
    assert.match((await phone.submit(confirm, { confirm: 'yes' })).html, /Device connected/);
    const again = await phone.submit(confirm, { confirm: 'yes' });
    assert.match(again.html, /This device is signed in/);
    assert.equal((await server.store.approvals.listLive(server.userId)).length >= 1, true);
    assert.equal((await redeem(server.publicUrl, dc.device_code)).status, 200);
  });

  it('a declined code answers access_denied, then can never be used', async () => {
    const dc = await deviceAuthorization(server.publicUrl);
    const page = await new Phone().approveDevice(dc.verification_uri_complete, 'deny');
    assert.match(page.html, /declined/);
    const denied = await redeem(server.publicUrl, dc.device_code);
    assert.equal(denied.status, 400);
    assert.equal(denied.json.error, 'access_denied');
    const again = await redeem(server.publicUrl, dc.device_code);
    assert.equal(again.json.error, 'invalid_grant');

    // The phone cannot approve it afterwards either.
    const late = await new Phone().approveDevice(dc.verification_uri_complete);
    assert.match(late.html, /already been used/);
  });

  it('stores no device code, user code or token in the clear', async () => {
    const dc = await deviceAuthorization(server.publicUrl);
    await new Phone().approveDevice(dc.verification_uri_complete);
    const tokens = await redeem(server.publicUrl, dc.device_code);
    const dump = JSON.stringify(await server.db('oidc_store').select());
    for (const secret of [
      dc.device_code,
      dc.user_code,
      dc.user_code.replace('-', ''),
      tokens.json.access_token,
      tokens.json.refresh_token,
    ]) {
      assert.equal(typeof secret, 'string');
      assert.ok(!dump.includes(secret as string), 'a minted secret is stored in the clear');
    }
  });
});
