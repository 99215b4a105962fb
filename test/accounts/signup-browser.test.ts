import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createClient } from '../../src/admin/clients.js';
import { blank, launchChromium } from '../helpers/browser.js';
import { PASSWORD, startTestServer } from '../helpers/server.js';
import { startSmtp } from '../helpers/smtp.js';

const REDIRECT = 'https://rp.example.com/callback';

/**
 * Sign-up with a passkey and the pages mailed links open, in real Chromium: the passkey made by Chromium's virtual
 * authenticator (DevTools protocol), the links taken from mails a real SMTP server received. The link pages read
 * their secret from after `#` with their script, so only a browser can complete them.
 */
describe('sign-up with a passkey, and mailed links in a browser (Chromium)', function () {
  this.timeout(180_000);
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let browser: Browser;
  let rp: oidc.Configuration;
  const open: BrowserContext[] = [];

  before(async () => {
    smtp = await startSmtp();
    server = await startTestServer({ accounts: { signup: true }, mail: { smtpUrl: smtp.url } });
    const c = await createClient(server.store, server.provider(), {
      client_id: 'photo',
      client_name: 'Photo App',
      redirect_uris: [REDIRECT],
    });
    const meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as oidc.ServerMetadata;
    rp = new oidc.Configuration(meta, 'photo', String(c.client_secret));
    oidc.allowInsecureRequests(rp);
    browser = await launchChromium();
  });
  afterEach(async () => {
    for (const c of open.splice(0)) await c.close();
  });
  after(async () => {
    await browser.close();
    await server.close();
    await smtp.close();
  });

  async function withAuthenticator(): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    open.push(ctx);
    await ctx.route('https://rp.example.com/**', (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>Photo App</h1>' }),
    );
    const page = await ctx.newPage();
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    return page;
  }

  it('a relying party’s sign-in: "Create an account" with a passkey, no password; tokens say phr; the mailed link confirms the address', async () => {
    const page = await withAuthenticator();
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'st',
    });
    const callback = page.waitForRequest(/^https:\/\/rp\.example\.com\/callback\?/, { timeout: 120_000 });
    await page.goto(url.toString());
    await page.getByRole('link', { name: 'New here? Create an account' }).click();
    await page.getByRole('heading', { name: 'Create an account' }).waitFor();
    assert.match(await page.locator('body').innerText(), /Then you continue to Photo App/);
    await page.getByLabel('Username').fill('frida');
    await page.getByLabel('Email address').fill('frida@example.org');
    await page.getByRole('button', { name: 'Create with a passkey' }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    const back = await callback;
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(back.url()), { pkceCodeVerifier: verifier, expectedState: 'st' });
    const frida = (await server.store.users.list()).find((u) => u.username === 'frida');
    assert.ok(frida);
    assert.equal(tokens.claims()?.sub, frida.id);
    assert.equal(tokens.claims()?.acr, 'phr');
    assert.deepEqual(tokens.claims()?.amr, ['hwk', 'user']);
    assert.equal(await server.store.users.hasPassword(frida.id), false, 'no password was set');
    assert.equal((await server.store.passkeys.list(frida.id)).length, 1);
    assert.equal(frida.email_verified, false);

    const mail = await smtp.next();
    assert.equal(mail.to, 'frida@example.org');
    await blank(page);
    await page.goto(String(mail.link));
    await page.getByRole('heading', { name: 'Confirm your email address' }).waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the secret left the address bar');
    await page.getByRole('button', { name: 'Confirm my address' }).click();
    await page.getByRole('heading', { name: 'Email address confirmed' }).waitFor();
    assert.equal((await server.store.users.byId(frida.id))?.email_verified, true);
  });

  it('"Forgot password?" from a sign-in page: the mailed link opens a page that sets the new password, in the reader’s language', async () => {
    const ctx = await browser.newContext({ locale: 'zh-CN', extraHTTPHeaders: { 'accept-language': 'zh-CN' } });
    open.push(ctx);
    const page = await ctx.newPage();
    await page.goto(`${server.publicUrl}/account/signin`);
    await page.getByRole('link', { name: '忘记密码？' }).click();
    await page.getByLabel('用户名或电子邮箱').fill('alice');
    await page.getByRole('button', { name: '发送链接' }).click();
    await page.getByRole('heading', { name: '请查收邮件' }).waitFor();
    // "Back to sign-in" leads to the sign-in this browser was on.
    assert.equal(await page.getByRole('link', { name: '返回登录' }).count(), 1);

    const mail = await smtp.next();
    assert.equal(mail.subject, '重置你的 Handoff 密码', 'the mail is in the language of the request');
    await page.goto(String(mail.link));
    await page.getByLabel('新密码（至少 8 个字符）').fill('a whole new password');
    await page.getByLabel('再次输入新密码').fill('a whole new password');
    await page.getByRole('button', { name: '设置新密码' }).click();
    await page.getByRole('heading', { name: '密码已更改' }).waitFor();

    const en = await browser.newContext();
    open.push(en);
    const signIn = await en.newPage();
    await signIn.goto(`${server.publicUrl}/account/devices`);
    await signIn.getByLabel('Username').fill('alice');
    await signIn.getByLabel('Password').fill(PASSWORD);
    await signIn.getByRole('button', { name: 'Sign in', exact: true }).click();
    await signIn.getByText('Wrong username or password.').waitFor();
    await signIn.getByLabel('Password').fill('a whole new password');
    await signIn.getByRole('button', { name: 'Sign in', exact: true }).click();
    await signIn.getByRole('heading', { name: 'Your devices' }).waitFor();
  });
});
