import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { createClient } from '../../src/admin/clients.js';
import { launchChromium, phoneContext } from '../helpers/browser.js';
import { decodePng } from '../helpers/qr.js';
import { SseClient } from '../helpers/sse.js';
import { PASSWORD, postForm, startTestServer } from '../helpers/server.js';

/**
 * Finding 2, the desktop's side: when its stream is refused (the address already holds its share of waits), the
 * login page must not sit there while the phone says "Computer signed in". It re-reads the ticket and reconnects
 * with backoff, and finishes the sign-in by itself.
 */
const REDIRECT = 'https://rp.example.com/callback';

describe('security: the desktop page recovers from a refused stream (Chromium)', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;
  let rp: oidc.Configuration;
  const streams: SseClient[] = [];

  before(async () => {
    server = await startTestServer({
      proxy: true,
      realtime: { maxWaitsPerAddress: 2 },
      qrLogin: { maxTicketsPerIp: 1000, maxScansPerIp: 1000, rotateSeconds: 600, ticketSeconds: 600 },
      device: { maxAuthorizationsPerIp: 1000 },
    });
    const c = await createClient(server.store, server.provider(), { client_id: 'rp', client_name: 'Photo App', redirect_uris: [REDIRECT] });
    const meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as oidc.ServerMetadata;
    rp = new oidc.Configuration(meta, 'rp', String(c.client_secret));
    oidc.allowInsecureRequests(rp);
    browser = await launchChromium();
  });
  after(async () => {
    for (const s of streams) s.close();
    await browser.close();
    await server.close();
  });

  it('a desktop whose stream is refused still moves on the moment the phone approves', async () => {
    // The desktop's address (behind the trusted proxy) already holds its two waits: its own stream will get 429.
    const desktopAddress = { 'x-forwarded-for': '203.0.113.77' };
    for (let i = 0; i < 2; i += 1) {
      const dc = await postForm(`${server.publicUrl}/device/auth`, { client_id: 'tv', scope: 'openid' });
      const s = new SseClient(String(dc.json.status_uri), desktopAddress);
      streams.push(s);
      await s.until(() => s.events.length === 1);
    }
    const desk = await (await browser.newContext({ viewport: { width: 1100, height: 900 }, extraHTTPHeaders: desktopAddress })).newPage();
    const refused: number[] = [];
    desk.on('response', (r) => {
      if (r.url().includes('/qr/events') && r.status() === 429) refused.push(r.status());
    });
    const callback = desk.waitForRequest(/^https:\/\/rp\.example\.com\/callback\?/, { timeout: 30_000 });
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    await desk.goto(url.toString());
    const img = desk.locator('#qr-image');
    await img.waitFor();
    const ticketUrl = decodePng(await img.screenshot());
    assert.ok(ticketUrl);
    for (let i = 0; i < 100 && refused.length === 0; i += 1) await desk.waitForTimeout(50);
    assert.ok(refused.length >= 1, 'the desktop’s stream was refused');

    const phone = await (await phoneContext(browser)).newPage();
    await phone.goto(`${server.publicUrl}/account/devices`);
    await phone.getByLabel('Username').fill('alice');
    await phone.getByLabel('Password').fill(PASSWORD);
    await phone.getByRole('button', { name: 'Sign in', exact: true }).click();
    await phone.getByRole('heading', { name: 'Your devices' }).waitFor();
    await phone.goto(ticketUrl);
    // Number matching: the desktop learns its number though its stream was refused (it re-reads the ticket).
    await desk
      .locator('[data-number]')
      .getByText(/^\d\d$/)
      .waitFor({ timeout: 20_000 });
    await phone.getByRole('button', { name: String(await desk.locator('[data-number]').textContent()), exact: true }).click();
    await phone.getByRole('heading', { name: 'Computer signed in' }).waitFor();

    const back = new URL((await callback).url());
    assert.ok(back.searchParams.get('code'), 'the desktop finished by itself, though its stream was refused');
  });
});
