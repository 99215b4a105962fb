import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createClient } from '../../src/admin/clients.js';
import { Phone } from '../helpers/phone.js';
import { adminFetch, DEVICE_GRANT, deviceAuthorization, PASSWORD, postForm, redeem, startTestServer } from '../helpers/server.js';

const REDIRECT = 'https://rp.example.com/callback';

/**
 * Standard clients, used as their own documentation shows (issue 20): a native device client approves in one
 * decision, a confidential client an operator exempted signs in without PKCE while every other client still needs
 * it, the JWKS lists the default ID token algorithm's key first, and token answers carry `Pragma: no-cache`.
 */
describe('standard clients as documented', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let meta: oidc.ServerMetadata;
  before(async () => {
    server = await startTestServer();
    meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as oidc.ServerMetadata;
  });
  after(() => server.close());

  /** A sign-in without PKCE, as passport-openidconnect sends it: the page the browser ends on, or the callback URL. */
  async function withoutPkce(clientId: string) {
    const browser = new Phone();
    const url = new URL(`${server.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: REDIRECT,
      state: 's',
    }).toString();
    let page = await browser.request(url.toString());
    if (page.html.includes('name="password"')) page = await browser.submit(page, { username: 'alice', password: PASSWORD });
    if (page.html.includes('name="decision"')) page = await browser.submit(page, { decision: 'allow' });
    return page;
  }

  it('a native device client (application_type native) approves in one decision: no consent page after Approve', async () => {
    await createClient(server.store, server.provider(), {
      client_id: 'native-tv',
      client_name: 'Native TV',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: [DEVICE_GRANT, 'refresh_token'],
      response_types: [],
    });
    const dc = await deviceAuthorization(server.publicUrl, 'native-tv', 'openid profile offline_access');
    const page = await new Phone().approveDevice(dc.verification_uri_complete);
    assert.doesNotMatch(page.html, /name="decision"/, 'no second decision');
    assert.match(page.html, /Device connected/);
    assert.equal((await redeem(server.publicUrl, dc.device_code, 'native-tv')).status, 200);
  });

  it('PKCE: a confidential client marked exempt signs in without it; every other client still needs it', async () => {
    const exempt = await createClient(server.store, server.provider(), {
      client_id: 'legacy-web',
      redirect_uris: [REDIRECT],
      handoff_pkce_exempt: true,
    });
    await createClient(server.store, server.provider(), { client_id: 'modern-web', redirect_uris: [REDIRECT] });

    const refused = await withoutPkce('modern-web');
    assert.ok(refused.url.startsWith(REDIRECT), refused.url);
    assert.equal(new URL(refused.url).searchParams.get('error'), 'invalid_request');
    assert.match(String(new URL(refused.url).searchParams.get('error_description')), /PKCE/);

    const back = await withoutPkce('legacy-web');
    const code = new URL(back.url).searchParams.get('code');
    assert.ok(code, `a code without PKCE for the exempt client: ${back.url}`);
    const conf = new oidc.Configuration(meta, 'legacy-web', String(exempt.client_secret));
    oidc.allowInsecureRequests(conf);
    const tokens = await oidc.authorizationCodeGrant(conf, new URL(back.url), { expectedState: 's' });
    assert.equal(tokens.claims()?.sub, server.userId);

    // A public client cannot be exempted: without a secret, PKCE is all that binds the code to its requester.
    const publicExempt = await adminFetch(server, 'POST', '/admin/clients', {
      client_id: 'spa',
      token_endpoint_auth_method: 'none',
      redirect_uris: [REDIRECT],
      handoff_pkce_exempt: true,
    });
    assert.equal(publicExempt.status, 400);
    const bad = await adminFetch(server, 'PATCH', '/admin/clients/modern-web', { handoff_pkce_exempt: 'yes' });
    assert.equal(bad.status, 400);
  });

  it('the JWKS lists the default ID token algorithm’s key first, and token answers are not cached', async () => {
    const jwks = (await (await fetch(`${server.issuer}/jwks`)).json()) as { keys: Array<{ alg: string }> };
    assert.equal(jwks.keys[0]?.alg, 'RS256');
    const dc = await deviceAuthorization(server.publicUrl);
    const pending = await redeem(server.publicUrl, dc.device_code);
    assert.equal(pending.json.error, 'authorization_pending');
    assert.equal(pending.headers.get('pragma'), 'no-cache');
    assert.equal(pending.headers.get('cache-control'), 'no-store');
    await new Phone().approveDevice(dc.verification_uri_complete);
    const tokens = await postForm(`${server.publicUrl}/token`, { grant_type: DEVICE_GRANT, device_code: dc.device_code, client_id: 'tv' });
    assert.equal(tokens.status, 200);
    assert.equal(tokens.headers.get('pragma'), 'no-cache');
  });
});
