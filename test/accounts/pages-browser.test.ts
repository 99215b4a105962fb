import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext } from 'playwright-core';
import { createClient } from '../../src/admin/clients.js';
import { blank, launchChromium, phoneContext } from '../helpers/browser.js';
import { deviceAuthorization, PASSWORD, startTestServer } from '../helpers/server.js';

const REDIRECT = 'https://rp.example.com/callback';
const LOGGED_OUT = 'https://rp.example.com/logged-out';

/** The pages a person meets, in Chromium: home, favicon, the account page's confirmations, sign-out, the phone QR rule. */
describe('pages a user trusts (Chromium)', function () {
  this.timeout(180_000);
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;
  let rp: oidc.Configuration;
  const open: BrowserContext[] = [];

  before(async () => {
    server = await startTestServer();
    const c = await createClient(server.store, server.provider(), {
      client_id: 'pages-rp',
      client_name: 'Photo App',
      redirect_uris: [REDIRECT],
      post_logout_redirect_uris: [LOGGED_OUT],
    });
    const meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as oidc.ServerMetadata;
    rp = new oidc.Configuration(meta, 'pages-rp', String(c.client_secret));
    oidc.allowInsecureRequests(rp);
    browser = await launchChromium();
  });
  afterEach(async () => {
    for (const c of open.splice(0)) await c.close();
  });
  after(async () => {
    await browser.close();
    await server.close();
  });

  async function authorizeUrl() {
    const verifier = oidc.randomPKCECodeVerifier();
    return oidc
      .buildAuthorizationUrl(rp, {
        redirect_uri: REDIRECT,
        scope: 'openid profile',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: 's',
      })
      .toString();
  }

  it('home page, favicon and Handoff’s name everywhere: no request of a page ends in 404', async () => {
    const ctx = await phoneContext(browser);
    open.push(ctx);
    const page = await ctx.newPage();
    const missing: string[] = [];
    page.on('response', (r) => {
      if (r.status() === 404) missing.push(r.url());
    });
    await page.goto(`${server.publicUrl}/`);
    await page.getByRole('heading', { name: 'Handoff', exact: true }).waitFor();
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByLabel('Password').waitFor();
    assert.equal(await page.locator('header.brand').innerText(), 'Handoff');
    assert.equal(await page.locator('[data-qr]').count(), 0, 'the account sign-in never offers a phone QR');
    const icon = await page.request.get(`${server.publicUrl}/favicon.ico`);
    assert.equal(icon.status(), 200);
    assert.deepEqual(missing, []);
  });

  it('the account page: relative times, revoking only after a confirmation, and sign-out through a translated logout page', async () => {
    const ctx = await phoneContext(browser, 'zh-CN');
    open.push(ctx);
    await ctx.route('https://rp.example.com/**', (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>Photo App</h1>' }),
    );
    const page = await ctx.newPage();
    const dc = await deviceAuthorization(server.publicUrl);
    await page.goto(dc.verification_uri_complete);
    await page.getByRole('button', { name: '批准' }).click();
    await page.getByLabel('用户名').fill('alice');
    await page.getByLabel('密码').fill(PASSWORD);
    await page.getByRole('button', { name: '登录', exact: true }).click();
    await page.goto(`${server.publicUrl}/account/devices`);
    const entry = page.locator('li.device').first();
    assert.match(await entry.innerText(), /Living Room TV[\s\S]*自称是/);
    assert.match(await entry.locator('time').innerText(), /刚刚|分钟前/);
    await entry.getByRole('link', { name: '结束登录' }).click();
    await page.getByRole('heading', { name: '结束此登录' }).waitFor();
    assert.equal((await server.store.approvals.listLive(server.userId)).length, 1, 'nothing ended before the confirmation');
    await page.getByRole('button', { name: '结束此登录' }).click();
    await page.getByRole('heading', { name: '你的设备' }).waitFor();
    assert.equal(await page.locator('li.device').count(), 0, 'the ended entry is gone');

    await page.getByRole('link', { name: '退出登录', exact: true }).click();
    await page.getByRole('heading', { name: '要在此浏览器上退出 Handoff 吗？' }).waitFor();
    await page.getByRole('button', { name: '退出登录' }).click();
    await page.waitForURL(`${server.publicUrl}/`);
    await page.getByRole('link', { name: '登录' }).waitFor();
  });

  it('RP-initiated logout returns to post_logout_redirect_uri with its state', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    open.push(ctx);
    await ctx.route('https://rp.example.com/**', (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>Photo App</h1>' }),
    );
    const page = await ctx.newPage();
    const callback = page.waitForRequest(/^https:\/\/rp\.example\.com\/callback\?/);
    await page.goto(await authorizeUrl());
    assert.equal(await page.locator('[data-qr]').count(), 1, 'a desktop relying-party sign-in offers the phone QR');
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await callback;
    await blank(page);
    const end = oidc.buildEndSessionUrl(rp, { post_logout_redirect_uri: LOGGED_OUT, state: 'bye' });
    const back = page.waitForRequest(/^https:\/\/rp\.example\.com\/logged-out/);
    await page.goto(end.toString());
    await page.getByRole('heading', { name: 'Sign out of Handoff on this browser?' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    assert.equal(new URL((await back).url()).searchParams.get('state'), 'bye');
  });

  it('never shows the phone QR on a narrow screen, even on a relying party’s sign-in', async () => {
    const ctx = await browser.newContext({ viewport: { width: 360, height: 760 } });
    open.push(ctx);
    const page = await ctx.newPage();
    await page.goto(await authorizeUrl());
    await page.getByLabel('Password').waitFor();
    const qr = page.locator('.qr-login');
    assert.ok((await qr.count()) === 0 || !(await qr.isVisible()), 'hidden on a narrow screen');
  });
});
