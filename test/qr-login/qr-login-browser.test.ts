import assert from 'node:assert/strict';
import { endLimitWindows, moveDesktops } from '../helpers/fixtures.js';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createUser } from '../../src/accounts/users.js';
import { createClient } from '../../src/admin/clients.js';
import { launchChromium, phoneContext } from '../helpers/browser.js';
import { decodePng } from '../helpers/qr.js';
import { PASSWORD, startTestServer } from '../helpers/server.js';

const REDIRECT = 'https://rp.example.com/callback';
const DESKTOP_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/** Desktop scan-to-sign-in with two Chromium contexts: a desktop browser at a relying party's sign-in, and a phone. */
describe('scan to sign in (desktop + phone in Chromium)', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;
  let rp: oidc.Configuration;
  const open: BrowserContext[] = [];

  before(async () => {
    server = await startTestServer({
      // Codes outlive any test step: only the rotation test (its own server) rotates them while it watches.
      qrLogin: { ticketSeconds: 75, rotateSeconds: 60, maxRotations: 2, confirmSeconds: 60, maxTicketsPerIp: 1000, maxScansPerIp: 1000 },
    });
    await createUser(server.store, { username: 'bob', password: PASSWORD, name: 'Bob Other' }, server.config.scrypt);
    const c = await createClient(server.store, server.provider(), { client_id: 'rp', client_name: 'Photo App', redirect_uris: [REDIRECT] });
    await createClient(server.store, server.provider(), {
      client_id: 'no-qr',
      client_name: 'Bank',
      redirect_uris: [REDIRECT],
      qr_login: false,
    });
    const meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as oidc.ServerMetadata;
    rp = new oidc.Configuration(meta, 'rp', String(c.client_secret));
    oidc.allowInsecureRequests(rp);
    browser = await launchChromium();
  });
  beforeEach(() => endLimitWindows(server.db));
  afterEach(async () => {
    for (const c of open.splice(0)) await c.close();
  });
  after(async () => {
    await browser.close();
    await server.close();
  });

  async function desktop(clientId = 'rp', relyingParty = rp): Promise<{ page: Page; verifier: string }> {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 900 }, userAgent: DESKTOP_UA });
    open.push(ctx);
    await ctx.route('https://rp.example.com/**', (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>Photo App</h1>' }),
    );
    const page = await ctx.newPage();
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(relyingParty, {
      client_id: clientId,
      redirect_uri: REDIRECT,
      scope: 'openid profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 's',
    });
    await page.goto(url.toString());
    return { page, verifier };
  }

  async function phone(username = 'alice', base = server.publicUrl): Promise<Page> {
    const ctx = await phoneContext(browser);
    open.push(ctx);
    const page = await ctx.newPage();
    await page.goto(`${base}/account/devices`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Your devices' }).waitFor();
    return page;
  }

  /** Reads the desktop's QR code the way a phone camera would: from pixels. */
  async function scanQr(page: Page): Promise<string> {
    const img = page.locator('#qr-image');
    await img.waitFor();
    const url = decodePng(await img.screenshot());
    assert.ok(url?.startsWith(`${server.issuer}/q/`), `decoded ${url}`);
    return url as string;
  }

  it('scan, approve, and the desktop continues to the relying party by itself, signed in as the phone', async () => {
    const { page: desk, verifier } = await desktop();
    await desk.getByRole('heading', { name: 'Sign in with your phone' }).waitFor();
    assert.ok(await desk.getByLabel('Password').isVisible(), 'the password form is offered too');
    const ticketUrl = await scanQr(desk);

    const ph = await phone();
    await ph.goto(ticketUrl);
    await ph.getByRole('heading', { name: 'Sign in to Photo App on your computer?' }).waitFor();
    assert.equal(await ph.locator('[data-field="device"]').textContent(), 'says it is Chrome on Windows', 'a claim, shown as one');
    assert.match(String(await ph.locator('[data-field="ip"]').textContent()), /^(127\.0\.0\.1|::1)$/);
    assert.equal(await ph.locator('[data-field="network"]').count(), 0, 'same network: no warning');
    assert.match(String(await ph.textContent('main')), /Your name and username/);
    // Number matching: the page's script claimed the code (opening the link alone changes nothing); the desktop now
    // shows a number, and the phone offers three, that one among them. No name is shown before approval.
    await desk.getByText('Scanned. Confirm on your phone.').waitFor({ timeout: 3000 });
    await desk
      .locator('[data-number]')
      .getByText(/^\d\d$/)
      .waitFor({ timeout: 3000 });
    const shown = String(await desk.locator('[data-number]').textContent());
    const choices = ph.locator('[data-number-choices] button');
    await choices.first().waitFor();
    assert.equal(await choices.count(), 3);
    assert.ok((await choices.allTextContents()).includes(shown), 'the desktop’s number is one of the phone’s three');
    await ph.getByText('Which number does your computer show?').waitFor();
    const [a, d] = [await choices.first().boundingBox(), await ph.getByRole('button', { name: 'No, decline' }).boundingBox()];
    assert.ok(a && d && Math.abs(a.height - d.height) < 1, 'approving and declining are equally prominent');
    assert.doesNotMatch(String(await desk.textContent('main')), /A\*\*\*e|alice|Alice/);
    // No click and no reload on the desktop, and no second decision: the phone's approval was the consent.
    const callback = desk.waitForRequest(/^https:\/\/rp\.example\.com\/callback\?/, { timeout: 5000 });
    await ph.getByRole('button', { name: shown, exact: true }).click();
    await ph.getByRole('heading', { name: 'Computer signed in' }).waitFor();
    const back = new URL((await callback).url());
    const tokens = await oidc.authorizationCodeGrant(rp, back, { pkceCodeVerifier: verifier, expectedState: 's' });
    assert.equal(tokens.claims()?.sub, server.userId, 'the relying party gets the phone account, through the normal code exchange');

    // The ticket was used once: scanning it again shows nothing to approve.
    await ph.goto(ticketUrl);
    await ph.getByRole('heading', { name: /Code not valid|Code expired/ }).waitFor();
  });

  it('decline: the desktop says so and offers a fresh code', async () => {
    const { page: desk } = await desktop();
    const ticketUrl = await scanQr(desk);
    const ph = await phone();
    await ph.goto(ticketUrl);
    await ph.getByRole('button', { name: 'No, decline' }).click();
    await ph.getByText('Nothing was shared').waitFor();
    await desk.getByText('The sign-in was declined on the phone.').waitFor({ timeout: 3000 });
    const before = await desk.locator('#qr-image').getAttribute('src');
    await desk.getByRole('button', { name: 'Show a new code' }).first().click();
    await desk.getByRole('heading', { name: 'Sign in with your phone' }).waitFor();
    await desk.locator('#qr-image').waitFor();
    assert.notEqual(await desk.locator('#qr-image').getAttribute('src'), before);
  });

  it('the first phone claims the code: a second phone sees it is already in use', async () => {
    const { page: desk } = await desktop();
    const ticketUrl = await scanQr(desk);
    const first = await phone('alice');
    await first.goto(ticketUrl);
    await first.locator('[data-number-choices] button').first().waitFor();
    await desk.getByText('Scanned. Confirm on your phone.').waitFor({ timeout: 3000 });
    const second = await phone('bob');
    const res = await second.goto(ticketUrl);
    assert.equal(res?.status(), 409);
    await second.getByRole('heading', { name: 'Already in use' }).waitFor();
  });

  it('a phone that is not signed in signs in first and comes back to the code; another network is called out', async () => {
    const { page: desk } = await desktop();
    const ticketUrl = await scanQr(desk);
    await moveDesktops(server.db, '203.0.113.7');
    const ctx = await phoneContext(browser);
    open.push(ctx);
    const ph = await ctx.newPage();
    await ph.goto(ticketUrl);
    // The sign-in says what it is for: the app asking on the computer, not "Handoff account".
    await ph.getByRole('heading', { name: 'Sign in on this phone to confirm Photo App on your computer' }).waitFor();
    await ph.getByLabel('Username').fill('alice');
    await ph.getByLabel('Password').fill(PASSWORD);
    await ph.getByRole('button', { name: 'Sign in', exact: true }).click();
    await ph.getByRole('heading', { name: 'Sign in to Photo App on your computer?' }).waitFor();
    assert.match(String(await ph.locator('[data-field="network"]').textContent()), /different network/);
    assert.equal(await ph.locator('[data-field="ip"]').textContent(), '203.0.113.7');
  });

  it('a client can turn it off', async () => {
    const { page: desk } = await desktop('no-qr');
    await desk.getByLabel('Password').waitFor();
    assert.equal(await desk.locator('[data-qr]').count(), 0);
  });
  it('rotates the code while the page is open (the old one stops working), then pauses for a click', async () => {
    // A server of its own whose codes rotate every 2 s (last in this file: starting it resets the shared database);
    // each step waits on what the page shows, never on the clock.
    const rotating = await startTestServer({
      qrLogin: { ticketSeconds: 5, rotateSeconds: 2, maxRotations: 2, confirmSeconds: 60, maxTicketsPerIp: 1000, maxScansPerIp: 1000 },
    });
    try {
      const c = await createClient(rotating.store, rotating.provider(), {
        client_id: 'rp',
        client_name: 'Photo App',
        redirect_uris: [REDIRECT],
      });
      const meta = (await (await fetch(`${rotating.issuer}/.well-known/openid-configuration`)).json()) as oidc.ServerMetadata;
      const there = new oidc.Configuration(meta, 'rp', String(c.client_secret));
      oidc.allowInsecureRequests(there);
      const { page: desk } = await desktop('rp', there);
      const first = decodePng(await desk.locator('#qr-image').screenshot());
      assert.ok(first?.startsWith(`${rotating.issuer}/q/`), `decoded ${first}`);
      const shown = await desk.locator('#qr-image').getAttribute('src');
      // (the page's CSP forbids evaluating strings, so the test waits on the element from outside)
      await desk.locator(`#qr-image:not([src="${shown}"])`).waitFor({ timeout: 30_000 });
      const second = decodePng(await desk.locator('#qr-image').screenshot());
      assert.ok(second && second !== first, 'a new code');
      const old = await phone('alice', rotating.publicUrl);
      await old.goto(first as string);
      await old.getByRole('heading', { name: /Code expired|Code not valid/ }).waitFor();
      await desk.getByText('This code stopped refreshing.', { exact: false }).waitFor({ timeout: 30_000 });
      await desk.getByRole('button', { name: 'Show a new code' }).last().click();
      await desk.locator('#qr-image').waitFor();
      assert.ok(decodePng(await desk.locator('#qr-image').screenshot())?.startsWith(`${rotating.issuer}/q/`));
    } finally {
      await rotating.close();
    }
  });
});
