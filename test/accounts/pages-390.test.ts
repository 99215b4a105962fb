import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { createClient } from '../../src/admin/clients.js';
import { launchChromium } from '../helpers/browser.js';
import { desktopLogin, hasQr } from '../helpers/desktop.js';
import { endLimitWindows } from '../helpers/fixtures.js';
import { deviceAuthorization, PASSWORD, startTestServer } from '../helpers/server.js';

const REDIRECT = 'https://rp.example.com/callback';

/**
 * Every page a person sees says who, what and what next, in their language (issue 22), walked in Chromium on a
 * 390-px phone in English and in Simplified Chinese. On every page visited: no English on a Chinese page (beyond
 * names, codes and addresses), no button whose label breaks inside a word; on every final page a way onward; decision
 * pages name the account; a path that does not exist gets a styled page with a way home.
 */
describe('pages at 390 px in both languages (Chromium)', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;
  let rp: oidc.Configuration;
  before(async () => {
    server = await startTestServer({ qrLogin: { maxTicketsPerIp: 1000, maxScansPerIp: 1000 } });
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
  beforeEach(() => endLimitWindows(server.db));
  after(async () => {
    await browser.close();
    await server.close();
  });

  /** Words a Chinese page may show in Latin letters: names, brands, codes and units. */
  const ALLOWED =
    /Handoff|Living Room TV|Photo App|Alice Example|alice@example\.com|alice|Chrome|ChromeOS|Windows|Linux|macOS|Safari|Firefox|Edge|iOS|Android|iPhone|Tizen|webOS|Node|curl|Python|UTC|Wi-Fi|ID|BCDF-GHJK|[A-Z]{4}-[A-Z]{4}|npm start/g;

  /** The checks every page gets. */
  async function check(page: Page, lang: 'en' | 'zh', what: string) {
    // No label of a button or button-like link breaks inside a word.
    // (A string, evaluated in the page: this project compiles without the DOM's types.)
    const broken = (await page.evaluate(`(() => {
      const out = [];
      for (const el of document.querySelectorAll('button, a.button')) {
        if (!el.offsetParent) continue;
        const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          for (const m of (n.textContent || '').matchAll(/[A-Za-z\\u2011'-]{4,}/g)) {
            const range = document.createRange();
            range.setStart(n, m.index);
            range.setEnd(n, m.index + m[0].length);
            const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
            if (tops.size > 1) out.push(el.textContent.trim() + ' (' + m[0] + ')');
          }
        }
      }
      return out;
    })()`)) as string[];
    assert.deepEqual(broken, [], `${what}: labels broken inside a word`);
    if (lang === 'zh') {
      const text = (await page.locator('body').innerText()).replace(ALLOWED, '');
      const english = text.match(/[A-Za-z]{3,}/g) ?? [];
      assert.deepEqual(english, [], `${what}: English on a Chinese page`);
    }
  }
  const onward = async (page: Page, what: string) =>
    assert.ok((await page.locator('nav[data-next] a').count()) > 0, `${what}: a final page offers a way onward`);

  for (const lang of ['en', 'zh'] as const) {
    const L = (en: string, zh: string) => (lang === 'en' ? en : zh);

    it(`${lang}: code entry, a wrong code kept, the decision naming the account, success and its way onward`, async () => {
      const ctx = await browser.newContext({
        viewport: { width: 390, height: 844 },
        isMobile: true,
        hasTouch: true,
        locale: lang === 'en' ? 'en-US' : 'zh-CN',
      });
      try {
        const page = await ctx.newPage();
        await page.goto(`${server.publicUrl}/account/devices`);
        await page.getByLabel(L('Username', '用户名')).fill('alice');
        await page.getByLabel(L('Password', '密码')).fill(PASSWORD);
        await page.getByRole('button', { name: L('Sign in', '登录'), exact: true }).click();
        await page.getByRole('heading', { name: L('Your devices', '你的设备') }).waitFor();
        await check(page, lang, 'your devices');

        await page.goto(`${server.publicUrl}/device`);
        await check(page, lang, 'code entry');
        await page.getByRole('textbox').fill('bcdf ghjk');
        await page.getByRole('button', { name: L('Continue', '继续') }).click();
        await page.getByRole('alert').waitFor();
        assert.equal(await page.getByRole('textbox').inputValue(), 'BCDF-GHJK', 'the code typed is kept');
        assert.match(String(await page.getByRole('alert').textContent()), /BCDF-GHJK/);
        await check(page, lang, 'a wrong code');
        await page.goBack();
        assert.match(page.url(), /\/device$/, 'Back works: no form to resubmit');

        const dc = await deviceAuthorization(server.publicUrl);
        await page.goto(dc.verification_uri_complete);
        const account = page.locator('[data-field="account"]');
        await account.waitFor();
        assert.match(String(await account.textContent()), /Alice Example \(alice\)/);
        await page.getByRole('button', { name: L('Not you? Switch account', '不是你？切换账户') }).waitFor();
        await check(page, lang, 'device decision');
        await page.getByRole('button', { name: L('Yes, approve', '是，批准') }).click();
        await page.locator('[data-field="account"]').waitFor();
        assert.match(
          String(await page.locator('[data-field="account"]').textContent()),
          /Alice Example \(alice\)/,
          'the result names the account',
        );
        await onward(page, 'device success');
        await check(page, lang, 'device success');

        // Reopening the approved code says the device is signed in.
        await page.goto(dc.verification_uri_complete);
        await page.getByRole('heading', { name: L('This device is signed in', '此设备已登录') }).waitFor();
        await onward(page, 'approved code reopened');

        // "I didn't start this" on another code: the report's page goes on to Your devices.
        const other = await deviceAuthorization(server.publicUrl);
        await page.goto(other.verification_uri_complete);
        await page.getByRole('button', { name: L('I didn’t start this', '这不是我发起的') }).click();
        await page.getByRole('heading', { name: L('Thanks for telling us', '感谢你的反馈') }).waitFor();
        await onward(page, 'reported');
        await check(page, lang, 'reported');

        // Your devices: the entry, its confirmation, the confirmation after.
        await page.goto(`${server.publicUrl}/account/devices`);
        await page
          .locator('li.device')
          .first()
          .getByRole('link', { name: L('End sign\u2011in', '结束登录') })
          .click();
        await check(page, lang, 'end a sign-in');
        await page.getByRole('button', { name: L('End this sign\u2011in', '结束此登录') }).click();
        await page.locator('[data-done]').waitFor();
        await check(page, lang, 'after ending a sign-in');

        // A desktop's code, scanned: the decision names the account and warns as the device's does.
        const d = await desktopLogin(rp, REDIRECT);
        assert.ok(hasQr(d));
        await page.goto(d.qrUrl);
        await page.locator('[data-number-choices] button').first().waitFor();
        assert.match(String(await page.locator('[data-field="account"]').textContent()), /Alice Example \(alice\)/);
        await page.locator('[data-field="warning"]').waitFor();
        await check(page, lang, 'desktop decision');
        await page.getByRole('button', { name: L('No, decline', '否，拒绝') }).click();
        await page.waitForURL(/\/q\/result\//);
        await onward(page, 'desktop declined');
        await page.reload();
        await page.getByRole('heading', { name: L('Sign-in declined', '已拒绝登录') }).waitFor();
        await check(page, lang, 'desktop declined');

        // A path that does not exist, and a relying party's bad request: styled pages with a way home.
        const missing = await page.goto(`${server.publicUrl}/no/such/page`);
        assert.equal(missing?.status(), 404);
        await page.getByRole('heading', { name: L('Page not found', '找不到页面') }).waitFor();
        await onward(page, 'not found');
        await check(page, lang, 'not found');
        await page.goto(`${server.publicUrl}/auth?client_id=photo&response_type=code&scope=openid&redirect_uri=https://evil.example/cb`);
        await page.locator('[data-field="protocol-error"]').waitFor({ state: 'attached' });
        await onward(page, 'protocol error');
        await check(page, lang, 'protocol error');
      } finally {
        await ctx.close();
      }
    });
  }
});
