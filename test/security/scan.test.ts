import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createClient } from '../../src/admin/clients.js';
import { desktopCompletes, desktopLogin, hasQr, phoneDecides } from '../helpers/desktop.js';
import { ageSignIn } from '../helpers/fixtures.js';
import { type Page, Phone } from '../helpers/phone.js';
import { PASSWORD, postForm, startTestServer } from '../helpers/server.js';

/** Finding 4 and the scan findings of the second review: a scan grants exactly what the phone showed, no more. */
const REDIRECT = 'https://rp.example.com/callback';

describe('security: a desktop scan grants exactly what the phone showed', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let rp: oidc.Configuration;
  let other: oidc.Configuration;
  let noQr: oidc.Configuration;

  before(async () => {
    server = await startTestServer({ qrLogin: { maxTicketsPerIp: 1000, maxScansPerIp: 1000 } });
    const meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as oidc.ServerMetadata;
    const make = async (client_id: string, extra: Record<string, unknown> = {}) => {
      const c = await createClient(server.store, server.provider(), {
        client_id,
        client_name: client_id,
        redirect_uris: [REDIRECT],
        ...extra,
      });
      const conf = new oidc.Configuration(meta, client_id, String(c.client_secret));
      oidc.allowInsecureRequests(conf);
      return conf;
    };
    rp = await make('photo-app', { client_name: 'Photo App' });
    other = await make('other-app');
    noQr = await make('bank', { qr_login: false });
  });
  after(() => server.close());

  async function signedInPhone(): Promise<Phone> {
    const phone = new Phone();
    const page = await phone.request(`${server.publicUrl}/account/devices`);
    await phone.submit(page, { username: 'alice', password: PASSWORD });
    return phone;
  }

  async function scanIn(params: Record<string, string> = {}) {
    const d = await desktopLogin(rp, REDIRECT, params);
    assert.ok(hasQr(d), 'the login page offers the QR code');
    const phone = await signedInPhone();
    const decided = await phoneDecides(phone, d);
    assert.match(decided.html, /Computer signed in/);
    return { d, phone, back: await desktopCompletes(d, server.publicUrl) };
  }

  it('the desktop reaches the relying party with no second decision, carrying the phone’s own authentication', async () => {
    const { d, back } = await scanIn();
    assert.ok(back.url.startsWith(REDIRECT), `the desktop went straight back to the relying party: ${back.url}`);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(back.url), { pkceCodeVerifier: d.verifier, expectedState: 's' });
    const claims = tokens.claims();
    assert.equal(claims?.sub, server.userId);
    assert.deepEqual(claims?.amr, ['pwd', 'mca'], 'the ID token says how the phone signed in, and that it was across devices');
    assert.equal(claims?.acr, '0');
    const phoneSession = await server
      .db('oidc_store')
      .first<{ payload: { loginTs: number } }>('payload')
      .where({ model: 'Session' })
      .whereRaw(`payload->>'accountId' = ?`, [server.userId]);
    assert.equal(claims?.auth_time, phoneSession?.payload.loginTs, 'auth_time is the phone’s sign-in, not the tap');
  });

  it('leaves the desktop no Handoff session: other relying parties, the account pages and further scans all ask to sign in', async () => {
    const { d } = await scanIn();
    const silent = oidc.buildAuthorizationUrl(other, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      prompt: 'none',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const answer = await d.desktop.request(silent.toString());
    assert.equal(new URL(answer.url).searchParams.get('error'), 'login_required');

    const account = await d.desktop.request(`${server.publicUrl}/account/devices`);
    assert.match(account.html, /name="password"/, 'the account pages need a real sign-in');

    const next = await desktopLogin(rp, REDIRECT);
    assert.ok(hasQr(next));
    const asPhone = await d.desktop.request(next.qrUrl);
    assert.match(asPhone.html, /name="password"/, 'a browser signed in only by a scan cannot approve scans');
  });

  it('the phone lists the desktop sign-in beside its devices and can end it on its own, revoking what it was issued', async () => {
    const { d, phone, back } = await scanIn({ scope: 'openid profile' });
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(back.url), { pkceCodeVerifier: d.verifier, expectedState: 's' });
    const me = () => fetch(`${server.publicUrl}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal((await me()).status, 200);
    const devices = await phone.request(`${server.publicUrl}/account/devices`);
    const entry = new RegExp(
      `data-approval="${d.ticket}" data-kind="desktop">\\s*<h2>Photo App</h2>[\\s\\S]*?says it is Chrome on Windows`,
    );
    assert.match(devices.html, entry);
    const ended = await phone.revokeOnAccount(server.publicUrl, d.ticket);
    assert.doesNotMatch(ended.html, entry);
    assert.equal((await me()).status, 401, 'the desktop’s access token stopped working');
  });

  it('an approval dies when the approving phone signs out before the desktop finishes', async () => {
    const d = await desktopLogin(rp, REDIRECT);
    assert.ok(hasQr(d));
    const phone = await signedInPhone();
    await phoneDecides(phone, d);
    const logout = await phone.request(`${server.publicUrl}/session/end`);
    await phone.submit(logout, { logout: 'yes' });
    const back = await desktopCompletes(d, server.publicUrl);
    assert.equal(back.status, 400);
    assert.ok(!back.url.startsWith(REDIRECT));
  });

  const tickets = async () => Number((await server.db('qr_tickets').count<{ n: string }[]>({ n: '*' }))[0]?.n);

  /** A sign-in that no scan may finish: no QR code, and no ticket endpoint mints, streams or completes one. */
  async function noScanFor(desktop: Phone, page: Page, what: string) {
    assert.doesNotMatch(page.html, /data-ticket=/, `${what}: no QR code`);
    const uid = /\/interaction\/([\w-]+)\/(login|passkey)/.exec(page.html)?.[1] ?? '';
    const csrf = /(?:name="csrf" value|data-csrf)="([^"]*)"/.exec(page.html)?.[1] ?? '';
    assert.ok(uid && csrf, `${what}: a sign-in page`);
    const before = await tickets();
    const rotate = await desktop.request(`${server.publicUrl}/interaction/${uid}/qr/rotate`, { form: { csrf } });
    assert.equal(rotate.status, 403, `${what}: rotate`);
    const complete = await desktop.request(`${server.publicUrl}/interaction/${uid}/qr/complete`, { form: { csrf, ticket: 'x' } });
    assert.equal(complete.status, 403, `${what}: complete`);
    assert.equal(await tickets(), before, `${what}: no ticket was minted`);
  }

  it('prompt=login, max_age=0 and acr_values=phr: no QR code, and no ticket endpoint answers', async () => {
    for (const params of [{ prompt: 'login' }, { max_age: '0' }, { acr_values: 'phr' }] as Array<Record<string, string>>) {
      const d = await desktopLogin(rp, REDIRECT, params);
      assert.equal(hasQr(d), false, `${JSON.stringify(params)}: no QR code`);
      assert.match(d.page.html, /name="password"|passkey/);
      await noScanFor(d.desktop, d.page, JSON.stringify(params));
    }
  });

  it('the sign-in step of a device code mints no desktop ticket, so its QR cannot be relayed for a session (third review, 2)', async () => {
    // The attacker starts a device code and opens it in a desktop browser that is not signed in.
    const dc = (await postForm(`${server.publicUrl}/device/auth`, { client_id: 'tv', scope: 'openid offline_access' })).json as {
      verification_uri_complete: string;
    };
    const attacker = new Phone();
    attacker.userAgent = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
    const confirm = await attacker.request(dc.verification_uri_complete);
    const signIn = await attacker.submit(confirm, { confirm: 'yes' });
    assert.match(signIn.html, /name="password"/);
    await noScanFor(attacker, signIn, 'device code');
    // Nothing of the victim's reaches the attacker's browser: no session, so the account pages ask for a sign-in.
    const account = await attacker.request(`${server.publicUrl}/account/devices`);
    assert.doesNotMatch(account.html, /Your devices/);
  });

  it('a max_age the phone’s sign-in does not meet is not met by a scan', async () => {
    const d = await desktopLogin(rp, REDIRECT, { max_age: '60' });
    assert.ok(hasQr(d));
    const phone = await signedInPhone();
    await ageSignIn(server.db, server.userId, 120);
    await phoneDecides(phone, d);
    const back = await desktopCompletes(d, server.publicUrl);
    assert.equal(back.status, 400);
    assert.match(back.html, /more recent sign-in/);
  });

  it('qr_login: false is enforced at every ticket endpoint, not only by hiding the QR code', async () => {
    const d = await desktopLogin(noQr, REDIRECT);
    assert.equal(hasQr(d), false);
    const uid = /\/interaction\/([\w-]+)\/login/.exec(d.page.html)?.[1] ?? '';
    const csrf = /name="csrf" value="([^"]*)"/.exec(d.page.html)?.[1] ?? '';
    const rotate = await d.desktop.request(`${server.publicUrl}/interaction/${uid}/qr/rotate`, { form: { csrf } });
    assert.equal(rotate.status, 403);
    const complete = await d.desktop.request(`${server.publicUrl}/interaction/${uid}/qr/complete`, { form: { csrf, ticket: 'x' } });
    assert.equal(complete.status, 403);
    const events = await d.desktop.request(`${server.publicUrl}/interaction/${uid}/qr/events?ticket=x`);
    assert.equal(events.status, 403);
  });

  it('introspection answers only for the token’s own client, or a client marked as a resource server', async () => {
    const { d, back } = await scanIn();
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(back.url), { pkceCodeVerifier: d.verifier, expectedState: 's' });
    const ask = async (clientId: string, secret: string) =>
      (
        await postForm(`${server.publicUrl}/token/introspection`, {
          token: tokens.access_token,
          client_id: clientId,
          client_secret: secret,
        })
      ).json;
    const api = await createClient(server.store, server.provider(), {
      client_id: 'api',
      redirect_uris: [REDIRECT],
      resource_server: true,
    });
    const stranger = await createClient(server.store, server.provider(), { client_id: 'stranger', redirect_uris: [REDIRECT] });
    assert.deepEqual(await ask('stranger', String(stranger.client_secret)), { active: false });
    assert.equal((await ask('api', String(api.client_secret))).active, true);
  });

  it('another client cannot revoke a client’s tokens', async () => {
    const { d, back } = await scanIn();
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(back.url), { pkceCodeVerifier: d.verifier, expectedState: 's' });
    const stranger = await createClient(server.store, server.provider(), { client_id: 'revoker', redirect_uris: [REDIRECT] });
    await postForm(`${server.publicUrl}/token/revocation`, {
      token: tokens.access_token,
      client_id: 'revoker',
      client_secret: String(stranger.client_secret),
    });
    const me = await fetch(`${server.publicUrl}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(me.status, 200, 'the token still works');
  });
});
