import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createClient } from '../../src/admin/clients.js';
import { Phone } from '../helpers/phone.js';
import { deviceAuthorization, PASSWORD, startTestServer } from '../helpers/server.js';

const REDIRECT = 'https://rp.example.com/callback';
const LOGGED_OUT = 'https://rp.example.com/logged-out';
const DESKTOP_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

describe('pages a user trusts: home, favicon, remembered consent, sign-out, the account page', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let rp: oidc.Configuration;

  before(async () => {
    server = await startTestServer();
  });
  beforeEach(async () => {
    await server.store.clients.delete('rp');
    const c = await createClient(server.store, server.provider(), {
      client_id: 'rp',
      client_name: 'Photo App',
      redirect_uris: [REDIRECT],
      post_logout_redirect_uris: [LOGGED_OUT],
    });
    const metadata = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as oidc.ServerMetadata;
    rp = new oidc.Configuration(metadata, 'rp', String(c.client_secret));
    oidc.allowInsecureRequests(rp);
  });
  after(() => server.close());

  async function authorize(browser: Phone, scope = 'openid profile email') {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'st4te',
    });
    return { page: await browser.request(url.toString()), verifier };
  }

  it('serves a home page that says what Handoff is and how to sign in, and a favicon', async () => {
    const anonymous = await new Phone().request(`${server.issuer}/`);
    assert.equal(anonymous.status, 200);
    assert.match(anonymous.html, /<title>Handoff · Handoff<\/title>|<h1>Handoff<\/h1>/);
    assert.match(anonymous.html, /signs you in on TVs/);
    assert.match(anonymous.html, /href="\/account\/signin"/);
    assert.match(anonymous.html, /rel="icon" href="\/favicon.svg"/);
    for (const path of ['/favicon.ico', '/favicon.svg']) {
      const res = await fetch(`${server.issuer}${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-type'), 'image/svg+xml');
      assert.match(await res.text(), /^<svg /);
    }
    const zh = new Phone();
    zh.headers = { 'accept-language': 'zh-CN' };
    assert.match((await zh.request(`${server.issuer}/`)).html, /扫描它们显示的二维码/);
  });

  it('remembers consent per account and app across sessions, until removed on the account page', async () => {
    const first = new Phone();
    const { page } = await authorize(first, 'openid profile');
    const consent = await first.submit(page, { username: 'alice', password: PASSWORD });
    assert.match(consent.html, /Photo App wants to access your account/);
    const back = await first.submit(consent, { decision: 'allow' });
    assert.ok(back.url.startsWith(REDIRECT), back.url);

    // A new browser session (another day, another browser): one sign-in, no second decision.
    const second = new Phone();
    const again = await authorize(second, 'openid profile');
    const straight = await second.submit(again.page, { username: 'alice', password: PASSWORD });
    assert.ok(straight.url.startsWith(REDIRECT), `no consent page: ${straight.url}`);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(straight.url), {
      pkceCodeVerifier: again.verifier,
      expectedState: 'st4te',
    });
    assert.equal(tokens.scope?.split(' ').sort().join(' '), 'openid profile');

    // Asking for more than was allowed asks again, for the new part.
    const third = new Phone();
    const more = await authorize(third, 'openid profile email');
    const asks = await third.submit(more.page, { username: 'alice', password: PASSWORD });
    assert.match(asks.html, /Photo App wants to access your account/);

    // The account page lists the app; removing it takes a confirmation, then the next sign-in asks again.
    const account = await second.request(`${server.issuer}/account/devices`);
    assert.match(account.html, /Apps you allowed/);
    assert.match(account.html, /data-client="rp"/);
    const confirm = await second.request(`${server.issuer}/account/apps/rp/remove`);
    assert.match(confirm.html, /Remove access/);
    assert.match(confirm.html, /Photo App/);
    assert.deepEqual(await server.store.consents.find(server.userId, 'rp'), ['openid', 'profile'], 'nothing removed yet');
    const done = await second.submit(confirm);
    assert.doesNotMatch(done.html, /data-client="rp"/);
    assert.deepEqual(await server.store.consents.find(server.userId, 'rp'), []);
    const fourth = new Phone();
    const after = await authorize(fourth);
    assert.match((await fourth.submit(after.page, { username: 'alice', password: PASSWORD })).html, /wants to access your account/);
  });

  it('a device authorization always asks, even for an app the user allowed', async () => {
    await server.store.consents.remember(server.userId, 'tv', ['openid', 'profile', 'email', 'offline_access']);
    const dc = await deviceAuthorization(server.publicUrl);
    const phone = new Phone();
    const page = await phone.request(dc.verification_uri_complete);
    assert.match(page.html, /name="confirm"/, 'the decision page is shown');
    await server.store.consents.forget(server.userId, 'tv');
  });

  it('signs out through RP-initiated logout on styled, translated pages, back to post_logout_redirect_uri', async () => {
    const browser = new Phone();
    browser.headers = { 'accept-language': 'zh-CN,zh;q=0.9' };
    const { page, verifier } = await authorize(browser);
    const consent = await browser.submit(page, { username: 'alice', password: PASSWORD });
    const back = consent.url.startsWith(REDIRECT) ? consent : await browser.submit(consent, { decision: 'allow' });
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(back.url), { pkceCodeVerifier: verifier, expectedState: 'st4te' });
    const end = oidc.buildEndSessionUrl(rp, {
      id_token_hint: tokens.id_token as string,
      post_logout_redirect_uri: LOGGED_OUT,
      state: 'bye',
    });
    const question = await browser.request(end.toString());
    assert.equal(question.status, 200);
    assert.match(question.html, /要在此浏览器上退出 Handoff 吗？/);
    assert.match(question.html, /你也将退出 Photo App。/);
    assert.match(question.html, /<header class="brand">/);
    const gone = await browser.submit(question, { logout: 'yes' });
    const to = new URL(gone.url);
    assert.equal(`${to.origin}${to.pathname}`, LOGGED_OUT);
    assert.equal(to.searchParams.get('state'), 'bye');
    const home = await browser.request(`${server.issuer}/account/devices`);
    assert.doesNotMatch(home.html, /已登录为/, 'the session has ended');

    // Without a redirect: a styled page says it is done.
    const other = new Phone();
    await other.approveDevice((await deviceAuthorization(server.publicUrl)).verification_uri_complete);
    const account = await other.request(`${server.issuer}/account/devices`);
    const signOut = /href="([^"]*\/session\/end[^"]*)"/.exec(account.html)?.[1];
    assert.ok(signOut, 'the account page has a sign-out');
    const ask = await other.request(signOut.replace(/&amp;/g, '&'));
    assert.match(ask.html, /Sign out of Handoff on this browser\?/);
    const after = await other.submit(ask, { logout: 'yes' });
    assert.equal(after.url, `${server.issuer}/`);
    assert.match(after.html, /href="\/account\/signin"/, 'signed out, home offers sign-in');
  });

  it('lists sign-ins by app and device with relative times and normalised addresses, and revokes only after a confirmation', async () => {
    const phone = new Phone();
    const dc = await deviceAuthorization(server.publicUrl);
    await phone.approveDevice(dc.verification_uri_complete);
    const account = await phone.request(`${server.issuer}/account/devices`);
    assert.match(account.html, /<h2>Living Room TV<\/h2>/);
    assert.match(account.html, /data-field="how">Approved on your phone, with a code the device showed/);
    assert.match(account.html, /<time datetime="[^"]+Z" title="[^"]+UTC">(just now|\d+ minutes? ago)<\/time>/);
    assert.doesNotMatch(account.html, /::ffff:/);
    const id = /data-approval="([^"]+)"/.exec(account.html)?.[1] ?? '';
    const confirm = await phone.request(`${server.issuer}/account/devices/${id}/revoke`);
    assert.match(confirm.html, /End this sign\u2011in/);
    assert.match(confirm.html, /Living Room TV — /, 'the confirmation names the app and the device');
    assert.ok(
      (await server.store.approvals.listLive(server.userId)).some((a) => a.id === id),
      'still live before the confirmation',
    );
    const after = await phone.submit(confirm);
    assert.doesNotMatch(after.html, new RegExp(`data-approval="${id}"`), 'revoked entries are not listed');
  });

  it('offers "sign in with your phone" on a desktop relying-party sign-in only: never on a phone, never for a device code', async () => {
    const desktop = new Phone();
    desktop.userAgent = DESKTOP_UA;
    assert.match((await authorize(desktop)).page.html, /data-qr/);
    assert.doesNotMatch((await authorize(new Phone())).page.html, /data-qr/, 'a phone is never asked to scan');
    const device = new Phone();
    device.userAgent = DESKTOP_UA;
    let page = await device.request((await deviceAuthorization(server.publicUrl)).verification_uri_complete);
    page = await device.submit(page, { confirm: 'yes' });
    assert.match(page.html, /name="password"/);
    assert.doesNotMatch(page.html, /data-qr/, 'a sign-in reached from a device code has no QR');
  });
});
