import assert from 'node:assert/strict';
import * as jose from 'jose';
import { createLogger } from '../../src/log.js';
import { type Page, Phone } from '../helpers/phone.js';
import { rawRequest } from '../helpers/raw-http.js';
import { deviceAuthorization, PASSWORD, postForm, redeem, startTestServer } from '../helpers/server.js';
import { type Mail, startSmtp } from '../helpers/smtp.js';

/**
 * Self-service accounts: sign-up from a sign-in page, address confirmation and "Forgot password" by mailed links
 * (accounts/self-service.ts, oidc/signup-routes.ts). The mail goes over SMTP to a real SMTP server on loopback, and
 * the links in the mails it receives are what complete each flow.
 */
const said = (page: Page) => /<p[^>]*>([\s\S]*?)<\/p>/.exec(page.html)?.[1] ?? page.html.slice(0, 200);
const secretOf = (mail: Mail) => /#([\w-]{43})$/.exec(mail.link ?? '')?.[1] ?? '';

describe('self-service accounts: sign-up, address confirmation, password reset', function () {
  this.timeout(120_000);
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let server: Awaited<ReturnType<typeof startTestServer>>;
  /** The server this test started, if any (closed once, after it). */
  let running: { close(): Promise<void> } | undefined;
  let base: string;

  before(async () => {
    smtp = await startSmtp();
  });
  after(async () => {
    await smtp.close();
  });
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });
  const start = async (signup = true) => {
    server = await startTestServer({ proxy: true, accounts: { signup }, mail: { smtpUrl: smtp.url } });
    running = server;
    base = server.issuer;
    smtp.mails.length = 0;
  };
  /** A fresh mailbox view: mails from now on. */
  const mailsFrom = () => {
    const seen = smtp.mails.length;
    return () => smtp.mails.slice(seen);
  };

  /** A device code's phone path up to its sign-in page. */
  async function deviceSignInPage(phone: Phone) {
    const d = await deviceAuthorization(base);
    let page = await phone.request(d.verification_uri_complete);
    page = await phone.submit(page, { confirm: 'yes' });
    return { d, page };
  }
  const signUp = async (phone: Phone, page: Page, fields: Record<string, string>) => {
    const href = /href="([^"]+)" data-signup-link/.exec(page.html)?.[1];
    assert.ok(href, 'the sign-in page offers "Create an account"');
    const form = await phone.request(new URL(href, page.url).toString());
    assert.equal(form.status, 200, said(form));
    return phone.submit(form, fields, '/signup');
  };

  it('is off by default: no offer on the sign-in page, and the sign-up page is a readable 404', async () => {
    await start(false);
    const phone = new Phone();
    const { page } = await deviceSignInPage(phone);
    assert.doesNotMatch(page.html, /data-signup-link/);
    const uid = /\/interaction\/([\w-]+)\/login/.exec(page.html)?.[1];
    const off = await phone.request(`${base}/interaction/${uid}/signup`);
    assert.equal(off.status, 404);
    assert.match(off.html, /Creating an account here is turned off/);
    // Recovery is offered once mail can be sent, sign-up or not.
    assert.match(page.html, /data-forgot/);
  });

  it('a new person signs up on the phone: the device is approved at once, the mailed link confirms the address once', async () => {
    await start();
    const phone = new Phone();
    const { d, page } = await deviceSignInPage(phone);
    const done = await signUp(phone, page, { username: 'dave', email: 'dave@example.net', password: 'a new password 1' });
    assert.equal(done.status, 200, said(done));
    const tokens = await redeem(base, d.device_code);
    assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
    const dave = (await server.store.users.list()).find((u) => u.username === 'dave');
    assert.ok(dave);
    assert.equal(jose.decodeJwt(String(tokens.json.id_token)).sub, dave.id);
    assert.equal(dave.email_verified, false, 'an address counts for nothing before its link is used');

    const mail = await smtp.next();
    assert.equal(mail.to, 'dave@example.net');
    assert.match(mail.subject, /Confirm your email address/);
    assert.ok(mail.link?.startsWith(`${base}/account/verify#`), mail.link);
    // The page the link opens takes nothing by itself (a mail scanner's GET); the secret is never in a query.
    // Until the address is confirmed, no relying party is told it: not in the ID token, not at the userinfo endpoint.
    const me = async (accessToken: unknown) =>
      (await (await fetch(`${base}/me`, { headers: { authorization: `Bearer ${String(accessToken)}` } })).json()) as Record<
        string,
        unknown
      >;
    assert.equal(jose.decodeJwt(String(tokens.json.id_token)).email, undefined);
    assert.equal((await me(tokens.json.access_token)).email, undefined);
    const opened = await phone.request(String(mail.link));
    assert.equal(opened.status, 200);
    assert.match(opened.html, /You confirm it for dave/);
    assert.equal((await server.store.users.byId(dave.id))?.email_verified, false);

    // Someone else's browser (the address's owner, say, clicking a mail they did not ask for) confirms nothing:
    // signed out, it is asked to sign in; signed in as another account, it is told so; the link stays unused.
    const stranger = new Phone();
    const signedOut = await stranger.request(`${base}/account/verify`, { form: { token: secretOf(mail) } });
    assert.equal(signedOut.status, 401);
    assert.match(signedOut.html, /Sign in to the account that asked/);
    await stranger.request(`${base}/account/signin`).then((p) => stranger.submit(p, { username: 'alice', password: PASSWORD }));
    const asAlice = await stranger.request(`${base}/account/verify`, { form: { token: secretOf(mail) } });
    assert.equal(asAlice.status, 400);
    assert.match(asAlice.html, /for another account than the one signed in here/);
    assert.equal((await server.store.users.byId(dave.id))?.email_verified, false);

    const confirmed = await phone.request(`${base}/account/verify`, { form: { token: secretOf(mail) } });
    assert.equal(confirmed.status, 200, said(confirmed));
    assert.match(confirmed.html, /dave@example\.net is confirmed for dave/);
    assert.equal((await server.store.users.byId(dave.id))?.email_verified, true);
    const claims = await me(tokens.json.access_token);
    assert.equal(claims.email, 'dave@example.net');
    assert.equal(claims.email_verified, true);
    const again = await phone.request(`${base}/account/verify`, { form: { token: secretOf(mail) } });
    assert.equal(again.status, 400, 'a link works once');
    assert.match(again.html, /expired, was already used/);
  });

  it('refuses bad input with the form again and creates nothing; a taken username says so', async () => {
    await start();
    const phone = new Phone();
    const { page } = await deviceSignInPage(phone);
    for (const [fields, text] of [
      [{ username: 'x y', email: 'x@example.net', password: 'long enough 1' }, /A username is 1 to 64/],
      [{ username: 'erin', email: 'not-an-address', password: 'long enough 1' }, /valid email address/],
      [{ username: 'erin', email: 'erin@example.net', password: 'short' }, /8 to 1024 characters/],
      [{ username: 'ALICE', email: 'someone@example.net', password: 'long enough 1' }, /username is taken/],
      [{ username: '<b>erin</b>', email: 'e@example.net"><script>', password: 'long enough 1' }, /A username is/],
      [{ username: 'alice@example.com', email: 'mine@evil.test', password: 'long enough 1' }, /A username is/],
      [{ username: 'erin', email: 'z@example.com,evil@evil.test', password: 'long enough 1' }, /valid email address/],
      [{ username: 'erin', email: 'Erin <erin@example.net>', password: 'long enough 1' }, /valid email address/],
    ] as const) {
      const answer = await signUp(phone, page, fields);
      assert.ok(answer.status === 400 || answer.status === 409, `${answer.status} ${said(answer)}`);
      assert.match(answer.html, text);
      assert.doesNotMatch(answer.html, /<b>erin<\/b>|<script>/, 'typed text is shown escaped');
    }
    assert.deepEqual(
      (await server.store.users.list()).map((u) => u.username),
      ['alice'],
    );
    await server.mailer.idle();
    assert.equal(smtp.mails.length, 0);
  });

  it("signing up with someone else's confirmed address tells nothing on the page and mails its owner instead", async () => {
    await start();
    const mails = mailsFrom();
    const phone = new Phone();
    const { d, page } = await deviceSignInPage(phone);
    const done = await signUp(phone, page, { username: 'mallory', email: 'Alice@Example.com', password: 'mallory password' });
    assert.equal(done.status, 200, 'the same answer as any sign-up');
    assert.equal((await redeem(base, d.device_code)).status, 200);
    await server.mailer.idle();
    const [mail] = mails();
    assert.equal(mail?.to.toLowerCase(), 'alice@example.com');
    assert.match(String(mail?.text), /already belongs to the account alice/);
    assert.doesNotMatch(String(mail?.text), /account\/verify#/, 'no confirmation link for an address that is taken');
    const mallory = (await server.store.users.list()).find((u) => u.username === 'mallory');
    assert.equal(mallory?.email_verified, false);
  });

  it('"Forgot password": the same answer for any name, a link only to a confirmed address; the link sets the password and ends every session', async () => {
    await start();
    // alice signed in on a phone: that session must end with the reset.
    const signedIn = new Phone();
    await signedIn.request(`${base}/account/signin`).then((p) => signedIn.submit(p, { username: 'alice', password: PASSWORD }));
    assert.equal((await signedIn.request(`${base}/account/devices`)).url, `${base}/account/devices`);

    const phone = new Phone();
    const ask = async (identifier: string) => {
      const form = await phone.request(`${base}/account/forgot`);
      const answer = await phone.submit(form, { identifier });
      assert.equal(answer.status, 200);
      return answer.html;
    };
    const mails = mailsFrom();
    const unknown = await ask('nobody-here');
    const known = await ask('alice');
    assert.equal(unknown, known, 'the page says the same whether or not an account matches');
    await server.mailer.idle();
    assert.equal(mails().length, 1, 'one mail: for alice only');
    const mail = mails()[0] as Mail;
    assert.equal(mail.to, 'alice@example.com');
    assert.ok(mail.link?.startsWith(`${base}/account/reset#`), mail.link);

    // Two passwords that differ are refused, and the link still works after.
    const token = secretOf(mail);
    const differ = await phone.request(`${base}/account/reset`, {
      form: { token, password: 'brand new secret', again: 'brand new secreT' },
    });
    assert.equal(differ.status, 400);
    assert.match(differ.html, /two passwords differ/);
    const reset = await phone.request(`${base}/account/reset`, {
      form: { token, password: 'brand new secret', again: 'brand new secret' },
    });
    assert.equal(reset.status, 200, said(reset));
    assert.match(reset.html, /password of alice is changed/);

    const after = await signedIn.request(`${base}/account/devices`);
    assert.notEqual(after.url, `${base}/account/devices`, 'the session signed in before the reset has ended');
    const reused = await phone.request(`${base}/account/reset`, {
      form: { token, password: 'another secret 2', again: 'another secret 2' },
    });
    assert.equal(reused.status, 400, 'a link works once');

    const old = new Phone();
    const oldTry = await old.request(`${base}/account/signin`).then((p) => old.submit(p, { username: 'alice', password: PASSWORD }));
    assert.equal(oldTry.status, 401, 'the old password no longer signs in');
    const fresh = new Phone();
    await fresh.request(`${base}/account/signin`).then((p) => fresh.submit(p, { username: 'alice', password: 'brand new secret' }));
    assert.equal((await fresh.request(`${base}/account/devices`)).url, `${base}/account/devices`);
    const audit = await server.store.audit.list({ limit: 5, accountId: server.userId, action: 'password_reset' });
    assert.equal(audit.length, 1);
  });

  it('a reset ends what the old password let in: devices and apps lose their tokens, "Your devices" lists none', async () => {
    await start();
    const d = await deviceAuthorization(base);
    await new Phone().approveDevice(d.verification_uri_complete);
    const tokens = await redeem(base, d.device_code);
    assert.equal(tokens.status, 200);
    assert.ok(tokens.json.refresh_token, 'the TV holds a refresh token (offline_access)');
    const refresh = () =>
      postForm(`${base}/token`, { grant_type: 'refresh_token', refresh_token: String(tokens.json.refresh_token), client_id: 'tv' });
    assert.equal((await refresh()).status, 200, 'the refresh token works before the reset');

    const phone = new Phone();
    await phone.submit(await phone.request(`${base}/account/forgot`), { identifier: 'alice@example.com' });
    const mail = await smtp.next();
    const reset = await phone.request(`${base}/account/reset`, {
      form: { token: secretOf(mail), password: 'after the intruder', again: 'after the intruder' },
    });
    assert.equal(reset.status, 200, said(reset));

    const after = await refresh();
    assert.equal(after.status, 400);
    assert.equal(after.json.error, 'invalid_grant');
    const userinfo = await fetch(`${base}/me`, { headers: { authorization: `Bearer ${String(tokens.json.access_token)}` } });
    assert.equal(userinfo.status, 401, 'the access token is gone too');
    assert.equal((await server.store.approvals.listLive(server.userId)).length, 0, '"Your devices" lists nothing left to revoke');
  });

  it('sign-ups naming one address from many networks send it a few mails, never a flood, and never its owner’s reset budget', async () => {
    await start();
    const mails = mailsFrom();
    for (let i = 1; i <= 6; i += 1) {
      const phone = Phone.at(`203.0.113.${i}`);
      const { page } = await deviceSignInPage(phone);
      const done = await signUp(phone, page, { username: `spam${i}`, email: 'Victim@Example.org', password: 'spam password 1' });
      assert.equal(done.status, 200);
    }
    await server.mailer.idle();
    const toVictim = mails().filter((m) => m.to.toLowerCase() === 'victim@example.org');
    assert.equal(toVictim.length, server.config.accounts.mailsPerAccount);
    assert.ok(
      toVictim.every((m) => !/spam\d/.test(m.text)),
      'a mail about an unconfirmed address carries no text the sign-up chose',
    );

    // alice's address flooded the same way still gets her reset link.
    for (let i = 10; i <= 14; i += 1) {
      const phone = Phone.at(`198.51.100.${i}`);
      const { page } = await deviceSignInPage(phone);
      await signUp(phone, page, { username: `spam${i}`, email: 'alice@example.com', password: 'spam password 1' });
    }
    const owner = Phone.at('192.0.2.1');
    await owner.submit(await owner.request(`${base}/account/forgot`), { identifier: 'alice' });
    await server.mailer.idle();
    assert.ok(
      mails().some((m) => m.to === 'alice@example.com' && m.link?.includes('/account/reset#')),
      'the owner’s reset link went out',
    );
  });

  it('"Forgot password" by address never lands on an account whose username looks like that address', async () => {
    await start();
    // An account an operator named like alice's address, with an address of its own.
    await server.store.users.insert({
      id: 'lookalike',
      username: 'alice@example.com',
      passwordHash: null,
      name: null,
      email: 'attacker@evil.test',
      emailVerified: true,
    });
    const mails = mailsFrom();
    const phone = new Phone();
    await phone.submit(await phone.request(`${base}/account/forgot`), { identifier: 'alice@example.com' });
    await server.mailer.idle();
    assert.deepEqual(
      mails().map((m) => m.to),
      ['alice@example.com'],
    );
  });

  it('sign-up attempts from one address are bounded before any password is hashed (taken usernames, passkey options)', async () => {
    await start();
    const phone = Phone.at('203.0.113.77');
    const { page } = await deviceSignInPage(phone);
    const budget = server.config.accounts.signupsPerAddress * 6;
    let refused = 0;
    for (let i = 0; i <= budget; i += 1) {
      const answer = await signUp(phone, page, { username: 'alice', email: `probe${i}@example.net`, password: 'probe password 1' });
      if (answer.status === 429) refused += 1;
      else assert.equal(answer.status, 409);
    }
    assert.equal(refused, 1, 'the attempt after the budget is refused');
    const other = Phone.at('198.51.100.77');
    const fresh = await deviceSignInPage(other);
    assert.equal(
      (await signUp(other, fresh.page, { username: 'grace', email: 'grace@example.net', password: 'grace password 1' })).status,
      200,
    );
  });

  it('an unconfirmed address gets no reset link; by address works once confirmed; links expire', async () => {
    await start();
    const mails = mailsFrom();
    await server.store.users.update(server.userId, { email: 'alice@example.com', emailVerified: false });
    const phone = new Phone();
    const ask = async (identifier: string) => phone.submit(await phone.request(`${base}/account/forgot`), { identifier });
    await ask('alice');
    await ask('alice@example.com');
    await server.mailer.idle();
    assert.equal(mails().length, 0, 'an unconfirmed address recovers nothing');

    await server.store.users.update(server.userId, { email: 'alice@example.com', emailVerified: true });
    await ask('ALICE@example.com');
    await server.mailer.idle();
    const mail = mails()[0];
    assert.ok(mail?.link);
    await server.db('account_tokens').update({ expires_at: server.db.raw("now() - interval '1 second'") });
    const late = await phone.request(`${base}/account/reset`, {
      form: { token: secretOf(mail), password: 'brand new secret', again: 'brand new secret' },
    });
    assert.equal(late.status, 400);
    assert.match(late.html, /expired or was already used/);
  });

  it('limits: an account gets a few mails per window whoever asks, and the owner can still reset with one of them', async () => {
    await start();
    const mails = mailsFrom();
    // An attacker asks from many addresses, more than the account's budget.
    for (let i = 1; i <= 6; i += 1) {
      const attacker = Phone.at(`203.0.113.${i}`);
      await attacker.submit(await attacker.request(`${base}/account/forgot`), { identifier: 'alice' });
    }
    await server.mailer.idle();
    assert.equal(mails().length, server.config.accounts.mailsPerAccount, 'the mailbox is not flooded');
    assert.equal(
      Number((await server.db('account_tokens').count<Array<{ count: string }>>('* as count').whereNull('used_at'))[0]?.count),
      server.config.accounts.mailsPerAccount,
      'only links that were sent can be used',
    );
    // The owner, from their own network, uses the first link in their mailbox: it works.
    const owner = Phone.at('198.51.100.7');
    const first = mails()[0] as Mail;
    const reset = await owner.request(`${base}/account/reset`, {
      form: { token: secretOf(first), password: 'owner keeps access', again: 'owner keeps access' },
    });
    assert.equal(reset.status, 200, said(reset));
    const later = mails()[1] as Mail;
    const dead = await owner.request(`${base}/account/reset`, {
      form: { token: secretOf(later), password: 'x'.repeat(9), again: 'x'.repeat(9) },
    });
    assert.equal(dead.status, 400, 'once one link is used, the others of the account die');
  });

  it('limits: one address asking too often is refused with the same page whatever it names; others are not', async () => {
    await start();
    const noisy = Phone.at('203.0.113.50');
    const ask = async (phone: Phone, identifier: string) => phone.submit(await phone.request(`${base}/account/forgot`), { identifier });
    for (let i = 0; i < server.config.accounts.resetsPerAddress; i += 1) assert.equal((await ask(noisy, `nobody${i}`)).status, 200);
    const refusedUnknown = await ask(noisy, 'nobody-else');
    const refusedKnown = await ask(noisy, 'alice');
    assert.equal(refusedUnknown.status, 429);
    assert.equal(refusedKnown.status, 429);
    assert.equal(refusedUnknown.html, refusedKnown.html);
    assert.equal((await ask(Phone.at('198.51.100.9'), 'alice')).status, 200, 'another network is not refused');
  });

  it('hostile input: another site cannot post the forms, garbage links and bodies get readable 4xx pages, nothing changes', async () => {
    await start();
    const before = await server.store.users.credentials('alice');
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
    const foreign: Array<Record<string, string>> = [
      { origin: 'https://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site', origin: 'null' },
      { 'sec-fetch-site': 'cross-site', origin: base },
    ];
    for (const headers of foreign) {
      const r = await post('/account/forgot', 'identifier=alice', headers);
      assert.equal(r.status, 403, JSON.stringify(headers));
    }
    // What our own pages send (no-referrer makes a browser's POST say Origin: null).
    assert.equal((await post('/account/forgot', 'identifier=alice', { 'sec-fetch-site': 'same-origin', origin: 'null' })).status, 200);
    for (const body of [
      'token=&password=12345678&again=12345678',
      `token=${'A'.repeat(43)}&password=12345678&again=12345678`,
      'token=%3Cscript%3E&password=12345678&again=12345678',
      'token=a&token=b',
    ]) {
      const r = await post('/account/reset', body);
      assert.ok(r.status >= 400 && r.status < 500, `${r.status} for ${body}`);
      assert.doesNotMatch(await r.text(), /<script>/);
    }
    const json = await post('/account/verify', '{"token":"x"}', { 'content-type': 'application/json' });
    assert.equal(json.status, 415);
    assert.deepEqual(await server.store.users.credentials('alice'), before);
  });

  it('every spelling of a request meets the same rule: path case and slashes, chunked or with a length, other charsets', async () => {
    await start(false);
    const host = new URL(base).host;
    const phone = new Phone();
    const { page } = await deviceSignInPage(phone);
    const uid = /\/interaction\/([\w-]+)\/login/.exec(page.html)?.[1] ?? '';
    const cookie = [...phone.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const form = 'username=zed&email=zed%40example.net&password=zed+password+1';
    // Sign-up is off: no spelling of its routes makes an account.
    for (const path of [
      `/interaction/${uid}/signup`,
      `/interaction/${uid}/SIGNUP`,
      `/interaction/${uid}/signup/`,
      `//interaction/${uid}/signup`,
    ]) {
      for (const chunked of [false, true]) {
        const r = await rawRequest(`${base}${path}`, {
          method: 'POST',
          path,
          chunked,
          body: form,
          headers: {
            host,
            cookie,
            'content-type': 'application/x-www-form-urlencoded',
            ...(chunked ? {} : { 'content-length': String(form.length) }),
          },
        });
        assert.ok(r.status >= 400 && r.status < 500, `${r.status} for ${path} (chunked: ${chunked})`);
      }
    }
    assert.deepEqual(
      (await server.store.users.list()).map((u) => u.username),
      ['alice'],
    );

    // Another site's post of "Forgot password" sends nothing, however it is spelled and framed.
    const mails = mailsFrom();
    for (const path of ['/account/forgot', '/account/forgot/', '/ACCOUNT/FORGOT', '/Account/forgot']) {
      for (const [chunked, type] of [
        [false, 'application/x-www-form-urlencoded'],
        [true, 'application/x-www-form-urlencoded'],
        [false, 'application/x-www-form-urlencoded; charset=ISO-8859-1'],
      ] as const) {
        const body = 'identifier=alice';
        const r = await rawRequest(`${base}${path}`, {
          method: 'POST',
          path,
          chunked,
          body,
          headers: {
            host,
            'content-type': type,
            'sec-fetch-site': 'cross-site',
            origin: 'https://evil.example',
            ...(chunked ? {} : { 'content-length': String(body.length) }),
          },
        });
        assert.ok(r.status >= 400 && r.status < 500, `${r.status} for ${path}`);
      }
    }
    await server.mailer.idle();
    assert.equal(mails().length, 0);
    assert.equal((await server.db('account_tokens').select('token_hash')).length, 0);
  });

  it('without SMTP_URL: a developer finds each message, link included, in the log; production offers no mailed links', async () => {
    const lines: string[] = [];
    server = await startTestServer(
      {},
      undefined,
      createLogger('info', (line) => lines.push(line)),
    );
    running = server;
    base = server.issuer;
    assert.equal(server.mailer.mode, 'log');
    const phone = new Phone();
    await phone.submit(await phone.request(`${base}/account/forgot`), { identifier: 'alice' });
    await server.mailer.idle();
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.msg).startsWith('mail not sent'));
    assert.equal(logged?.to, 'alice@example.com');
    assert.match(String(logged?.link), /\/account\/reset#[\w-]{43}$/);
    const reset = await phone.request(`${base}/account/reset`, {
      form: { token: String(logged?.link).split('#')[1] ?? '', password: 'from the log 123', again: 'from the log 123' },
    });
    assert.equal(reset.status, 200, 'the logged link works');
    await server.close();

    server = await startTestServer({ env: 'production' }, undefined, createLogger('silent'));
    running = server;
    base = server.issuer;
    assert.equal(server.mailer.mode, 'off');
    const { page } = await deviceSignInPage(new Phone());
    assert.doesNotMatch(page.html, /data-forgot/, 'no "Forgot password?" when no mail can go out');
    const off = await new Phone().request(`${base}/account/forgot`);
    assert.equal(off.status, 404);
    assert.match(off.html, /not set up here/);
  });
});
