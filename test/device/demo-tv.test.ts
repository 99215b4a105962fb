import { demoPlugin } from '../../src/demo/plugin.js';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { createClient } from '../../src/admin/clients.js';
import { DEMO_MATCHING_CLIENT } from '../../src/demo/seed.js';
import { launchChromium } from '../helpers/browser.js';
import { Phone } from '../helpers/phone.js';
import { startTestServer } from '../helpers/server.js';

describe('/demo/tv in Chromium', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;
  before(async () => {
    server = await startTestServer({}, undefined, undefined, [demoPlugin()]);
    await createClient(server.store, server.provider(), { ...DEMO_MATCHING_CLIENT });
    browser = await launchChromium();
  });
  after(async () => {
    await browser.close();
    await server.close();
  });

  it('shows the QR and code, hears "scanned" (keeping the code, showing the number to pick) then the approval pushed, and signs in by itself', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const problems: string[] = [];
    const page = await context.newPage();
    page.on('console', (m) => {
      if (/Content Security Policy|Uncaught/i.test(m.text())) problems.push(m.text());
    });
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`${r.status()} ${r.url()}`);
    });
    const polls: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/device/status/')) polls.push(r.url());
    });
    await page.goto(`${server.publicUrl}/demo/tv`);
    const code = page.locator('#code');
    await code.waitFor();
    await page.getByRole('heading', { name: 'Sign in to the demo TV' }).waitFor();
    const userCode = String(await code.textContent());
    assert.match(userCode, /^[A-Z]{4}-[A-Z]{4}$/);
    assert.ok(Number(await page.evaluate("document.getElementById('qr').naturalWidth")) > 0, 'the QR image loaded');

    const phone = new Phone();
    const confirm = await phone.request(`${server.publicUrl}/device?user_code=${userCode}`);
    await page.getByRole('heading', { name: 'Scanned on a phone' }).waitFor({ timeout: 3000 });
    assert.equal(await page.locator('#scanned-code').textContent(), userCode, 'the code the phone asks to compare stays on screen');
    await page
      .locator('#number')
      .getByText(/^\d\d$/)
      .waitFor({ timeout: 3000 });
    const number = String(await page.locator('#number').textContent());
    assert.match(confirm.html, new RegExp(`name="confirm" value="${number}"`), 'the phone offers the number the TV shows');
    let next = await phone.submit(confirm, { confirm: number });
    next = await phone.submit(next, { username: 'alice', password: 'correct horse battery staple' });
    assert.match(next.html, /Device connected/, 'one decision: no consent page after the confirmation');
    await page.getByRole('heading', { name: 'Signed in' }).waitFor({ timeout: 3000 });
    assert.equal(await page.locator('#welcome').textContent(), 'Welcome, Alice Example (alice).');
    assert.equal(polls.length, 1, 'one stream, no polling of the status URL');
    assert.deepEqual(problems, []);
    await context.close();
  });
});
