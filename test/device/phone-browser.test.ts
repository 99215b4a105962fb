import assert from 'node:assert/strict';
import { endLimitWindows, expireDeviceCodeIn } from '../helpers/fixtures.js';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, phoneContext } from '../helpers/browser.js';
import { decodePng } from '../helpers/qr.js';
import { PASSWORD, redeem, startTestServer } from '../helpers/server.js';

type Auth = { device_code: string; user_code: string; verification_uri_complete: string; verification_uri_complete_qr: string };

/** The phone pages in real headless Chromium at 360 px: what a person sees and taps. */
describe('phone pages in Chromium', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let cspViolations: string[];

  before(async () => {
    server = await startTestServer();
    browser = await launchChromium();
  });
  beforeEach(async () => {
    await endLimitWindows(server.db);
    context = await phoneContext(browser);
    page = await context.newPage();
    cspViolations = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
  });
  afterEach(async () => {
    await context.close();
    assert.deepEqual(cspViolations, [], 'no CSP violations');
  });
  after(async () => {
    await browser.close();
    await server.close();
  });

  async function startDevice(ua = 'HandoffDemoTV/1.0 (Linux; Android 12)'): Promise<Auth> {
    const res = await fetch(`${server.publicUrl}/device/auth`, {
      method: 'POST',
      body: new URLSearchParams({ client_id: 'tv', scope: 'openid profile offline_access' }),
      headers: { 'user-agent': ua },
    });
    return (await res.json()) as Auth;
  }

  async function fitsWidth() {
    // Evaluated in the page (a string, as this project compiles without DOM types).
    const widths = (await page.evaluate(
      '({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })',
    )) as {
      scroll: number;
      client: number;
    };
    assert.ok(widths.scroll <= widths.client, `no horizontal scrolling at 360 px (${widths.scroll} > ${widths.client})`);
  }

  it('entry → confirmation with device details → sign in → success (one decision); the device gets tokens', async () => {
    const dc = await startDevice();
    await page.goto(`${server.publicUrl}/device`);
    await fitsWidth();
    const field = page.getByLabel('Code');
    assert.equal(await page.evaluate('document.activeElement.id'), 'user_code', 'the code field has focus');
    await field.fill(dc.user_code.toLowerCase().replace('-', ' '));
    await page.getByRole('button', { name: 'Continue' }).click();

    await page.getByRole('heading', { name: 'Sign in to Living Room TV on your device?' }).waitFor();
    await fitsWidth();
    assert.equal(await page.locator('.code').textContent(), dc.user_code);
    assert.equal(
      await page.locator('[data-field="device"]').textContent(),
      'says it is Handoff demo TV on Android',
      'a claim, shown as one',
    );
    assert.equal(await page.locator('[data-field="ip"]').textContent(), '127.0.0.1');
    assert.equal(await page.locator('[data-field="when"]').textContent(), 'just now');
    const approve = page.getByRole('button', { name: 'Yes, approve' });
    const decline = page.getByRole('button', { name: 'No, decline' });
    const [a, d] = [await approve.boundingBox(), await decline.boundingBox()];
    assert.ok(a && d && Math.abs(a.width - d.width) < 1 && Math.abs(a.height - d.height) < 1, 'Decline is as large as Approve');
    assert.ok(a && a.height >= 44, 'buttons are big enough to tap');
    await approve.click();

    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Device connected' }).waitFor();
    assert.match(String(await page.textContent('main')), /Living Room TV is now signed in/);

    const tokens = await redeem(server.publicUrl, dc.device_code);
    assert.equal(tokens.status, 200);
  });

  it('a double tap on Approve sends one decision: the phone goes on to sign in and connects the device', async () => {
    const dc = await startDevice();
    await page.goto(dc.verification_uri_complete);
    const decisions: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname === '/device') decisions.push(r.postData() ?? '');
    });
    // Two taps before the page goes: the form's submit events, and whether each was held back (in the page: a string,
    // as this project compiles without DOM types).
    const held = (await page.evaluate(`(() => {
      const approve = document.querySelector('button[name="confirm"]');
      const seen = [];
      approve.form.addEventListener('submit', (e) => seen.push(e.defaultPrevented));
      approve.click();
      approve.click();
      return seen;
    })()`)) as boolean[];
    assert.deepEqual(held, [false, true], 'the first tap submits, the second is held back');
    await page.getByLabel('Password').waitFor();
    assert.equal(decisions.length, 1, `one decision sent: ${decisions.join(' | ')}`);
    assert.match(decisions[0] ?? '', /(^|&)confirm=yes(&|$)/, 'the tapped button is the decision sent');
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Device connected' }).waitFor();
    assert.equal((await redeem(server.publicUrl, dc.device_code)).status, 200);
  });

  it('the QR link opens the confirmation page; Decline tells the user nothing was shared and the device is refused', async () => {
    const dc = await startDevice();
    await page.goto(dc.verification_uri_complete);
    await page.getByRole('button', { name: 'No, decline' }).click();
    await page.getByRole('heading', { name: 'Sign-in declined' }).waitFor();
    assert.match(String(await page.textContent('main')), /Nothing was shared/);
    assert.equal((await redeem(server.publicUrl, dc.device_code)).json.error, 'access_denied');
  });

  it('an expired code says so and how to get a new one', async () => {
    const dc = await startDevice();
    await expireDeviceCodeIn(server.db, dc.device_code, -5);
    await page.goto(dc.verification_uri_complete);
    await page.getByRole('heading', { name: 'Code expired' }).waitFor();
    assert.match(String(await page.textContent('main')), /Start again on your device/);
    assert.equal((await redeem(server.publicUrl, dc.device_code)).json.error, 'expired_token');
  });

  it('guessing is stopped after 5 wrong codes with a readable page', async () => {
    await page.goto(`${server.publicUrl}/device`);
    for (let i = 0; i < 5; i += 1) {
      await page.getByLabel('Code').fill('BBBB-BBBB');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByRole('alert').waitFor();
      assert.match(String(await page.getByRole('alert').textContent()), /not valid/);
    }
    await page.getByLabel('Code').fill('BBBB-BBBB');
    const [response] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).searchParams.has('user_code')),
      page.getByRole('button', { name: 'Continue' }).click(),
    ]);
    assert.equal(response.status(), 429);
    await page.getByRole('heading', { name: 'Too many attempts' }).waitFor();
  });

  it('shows the pages in Simplified Chinese to a phone set to Chinese', async () => {
    const zh = await phoneContext(browser, 'zh-CN');
    try {
      const p = await zh.newPage();
      const dc = await startDevice();
      await p.goto(dc.verification_uri_complete);
      await p.getByRole('button', { name: '是，批准' }).waitFor();
      assert.equal(await p.getAttribute('html', 'lang'), 'zh-CN');
    } finally {
      await zh.close();
    }
  });

  it('the SVG QR, rendered by the browser, decodes to verification_uri_complete', async () => {
    const dc = await startDevice();
    await page.setViewportSize({ width: 400, height: 400 });
    const svg = await (await fetch(dc.verification_uri_complete_qr)).text();
    await page.setContent(
      `<body style="margin:0;background:#fff"><div style="width:400px;height:400px">${svg.replace('<svg', '<svg width="400" height="400"')}</div></body>`,
    );
    const shot = await page.screenshot({ clip: { x: 0, y: 0, width: 400, height: 400 } });
    assert.equal(decodePng(shot), dc.verification_uri_complete);
  });
});
