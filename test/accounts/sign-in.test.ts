import assert from 'node:assert/strict';
import { endLimitWindows } from '../helpers/fixtures.js';
import * as oidc from 'openid-client';
import { Phone } from '../helpers/phone.js';
import { PASSWORD, startTestServer } from '../helpers/server.js';
import { createClient } from '../../src/admin/clients.js';

const REDIRECT = 'https://rp.example.com/callback';

describe('sign-in and consent pages for relying parties', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let rp: oidc.Configuration;

  before(async () => {
    server = await startTestServer({ login: { maxFailuresPerAccountAndAddress: 3, maxFailuresPerAddress: 6, windowSeconds: 600 } });
  });
  beforeEach(async () => {
    await endLimitWindows(server.db);
    await server.store.clients.delete('rp');
    const c = await createClient(server.store, server.provider(), { client_id: 'rp', client_name: 'Photo App', redirect_uris: [REDIRECT] });
    rp = new oidc.Configuration(await discovery(), 'rp', String(c.client_secret));
    oidc.allowInsecureRequests(rp);
  });
  after(() => server.close());

  async function discovery() {
    const res = await fetch(`${server.issuer}/.well-known/openid-configuration`);
    return (await res.json()) as oidc.ServerMetadata;
  }

  async function start(phone: Phone) {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid profile email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'st4te',
    });
    return { page: await phone.request(url.toString()), verifier };
  }

  it('signs in with username and password, asks consent, and the relying party gets tokens', async () => {
    const phone = new Phone();
    const { page, verifier } = await start(phone);
    assert.equal(page.status, 200);
    assert.match(page.html, /<input type="text" id="username" name="username"/);
    assert.match(page.html, /<input type="password" id="password" name="password"/);
    assert.match(page.html, /<button type="submit" class="primary">Sign in<\/button>/);
    assert.match(page.html, /Photo App/);

    const consent = await phone.submit(page, { username: 'ALICE', password: PASSWORD });
    assert.match(consent.html, /Photo App wants to access your account/);
    assert.match(consent.html, /Your email address/);
    const back = await phone.submit(consent, { decision: 'allow' });
    assert.ok(back.url.startsWith(REDIRECT), back.url);

    const tokens = await oidc.authorizationCodeGrant(rp, new URL(back.url), { pkceCodeVerifier: verifier, expectedState: 'st4te' });
    assert.equal(tokens.claims()?.sub, server.userId);
    const info = await oidc.fetchUserInfo(rp, tokens.access_token, server.userId);
    assert.equal(info.email, 'alice@example.com');
  });

  it('declining consent sends access_denied to the relying party', async () => {
    const phone = new Phone();
    const { page } = await start(phone);
    const consent = await phone.submit(page, { username: 'alice', password: PASSWORD });
    const back = await phone.submit(consent, { decision: 'deny' });
    assert.equal(new URL(back.url).searchParams.get('error'), 'access_denied');
  });

  it('says a sign-in failed without saying which part was wrong', async () => {
    const phone = new Phone();
    const { page } = await start(phone);
    const wrongPassword = await phone.submit(page, { username: 'alice', password: 'nope' });
    const unknownUser = await phone.submit(page, { username: 'mallory', password: 'nope' });
    assert.equal(wrongPassword.status, 401);
    assert.equal(unknownUser.status, 401);
    for (const p of [wrongPassword, unknownUser]) assert.match(p.html, /Wrong username or password\./);
  });

  it('throttles failures per account and address with 429 and Retry-After, and a correct password does not reset the budget', async () => {
    const phone = new Phone();
    const { page } = await start(phone);
    await phone.submit(page, { username: 'alice', password: 'wrong-1' });
    await phone.submit(page, { username: 'alice', password: 'wrong-2' });
    const fresh = new Phone();
    const { page: p2 } = await start(fresh);
    const good = await fresh.submit(p2, { username: 'alice', password: PASSWORD });
    assert.match(good.html, /wants to access your account/, 'the right password still works within the budget');
    const third = await phone.submit(page, { username: 'alice', password: 'wrong-3' });
    assert.equal(third.status, 401);
    const blocked = await phone.submit(page, { username: 'alice', password: PASSWORD });
    assert.equal(blocked.status, 429);
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    assert.match(blocked.html, /Too many failed sign-in attempts/);
  });

  it('throttles failures per IP address across accounts', async () => {
    const phone = new Phone();
    const { page } = await start(phone);
    const statuses: number[] = [];
    for (let i = 0; i < 7; i += 1) statuses.push((await phone.submit(page, { username: `user${i}`, password: 'x' })).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401, 429]);
  });

  it('refuses a login form without the CSRF token bound to the interaction', async () => {
    const phone = new Phone();
    const { page } = await start(phone);
    const forged = await phone.submit(page, { username: 'alice', password: PASSWORD, csrf: 'forged' });
    assert.equal(forged.status, 403);
    assert.match(forged.html, /form has expired/);
  });
});
