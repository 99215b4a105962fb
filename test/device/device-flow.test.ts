import assert from 'node:assert/strict';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { Phone } from '../helpers/phone.js';
import { deviceAuthorization, redeem, startTestServer } from '../helpers/server.js';

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
    assert.equal(decodeProtectedHeader(idToken).alg, 'ES256');
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
