import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { createClient } from '../../src/admin/clients.js';
import { launchChromium, phoneContext } from '../helpers/browser.js';
import { endLimitWindows } from '../helpers/fixtures.js';
import { decodePng } from '../helpers/qr.js';
import { adminFetch, deviceAuthorization, redeem, startTestServer } from '../helpers/server.js';

/**
 * "Continue with <upstream>" in real Chromium, against a second, real OpenID Provider process
 * (test/helpers/upstream-op.ts, on 127.0.0.1 while Handoff is on localhost: two sites, as a browser sees them). Three
 * sign-ins a person makes with it: approving a device code on a phone, approving a desktop's QR code on a phone that
 * signs in for it, and a relying party's own sign-in. Each step waits on what the browser shows or requests.
 */
const SECRET = 'upstream-client-secret-0123456789';
const DESKTOP_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const CONTINUE = 'Continue with Corp SSO';

/** An ID token's `amr` (authentication methods), as a list. */
const amrOf = (claims: Record<string, unknown> | undefined): unknown[] => (Array.isArray(claims?.amr) ? claims.amr : []);

interface Upstream {
  issuer: string;
  stop(): Promise<void>;
}

/** The upstream OpenID Provider in a process of its own (as test/accounts/upstream.test.ts starts it). */
async function startUpstream(redirectUris: string[], accounts: Record<string, Record<string, unknown>>): Promise<Upstream> {
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(new URL('../helpers/upstream-op.js', import.meta.url))], {
    env: {
      ...process.env,
      UPSTREAM_CLIENTS: JSON.stringify([
        { client_id: 'handoff', client_secret: SECRET, redirect_uris: redirectUris, token_endpoint_auth_method: 'client_secret_post' },
      ]),
      UPSTREAM_ACCOUNTS: JSON.stringify(accounts),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const issuer = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += String(d);
      const m = /listening (\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`the upstream exited (${code})`)));
  });
  return {
    issuer,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

interface RelyingParty {
  /** Its redirect URI (`http://rp.localhost:<port>/callback`: loopback, and a site of its own to the browser). */
  redirectUri: string;
  /** The callbacks it received, in order. */
  callbacks: URL[];
  close(): Promise<void>;
}

/** The relying party's own site on loopback: its callback page answers "Photo App" and records what arrived. */
async function startRelyingParty(): Promise<RelyingParty> {
  const callbacks: URL[] = [];
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const origin = `http://rp.localhost:${typeof address === 'object' && address ? address.port : 0}`;
  server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', origin);
    if (url.pathname === '/callback') callbacks.push(url);
    res.writeHead(url.pathname === '/callback' ? 200 : 404, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>Photo App</title><h1>Photo App</h1>');
  });
  return {
    redirectUri: `${origin}/callback`,
    callbacks,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('"Continue with" an upstream OpenID Provider (Chromium, a real upstream process)', function () {
  // Every step waits on an event (a URL, an element, a request); on a loaded machine a whole walk can take a while.
  this.timeout(180_000);
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let upstream: Upstream;
  let relyingParty: RelyingParty;
  let redirectUri: string;
  let browser: Browser;
  let rp: oidc.Configuration;
  let base: string;
  const open: BrowserContext[] = [];

  before(async () => {
    server = await startTestServer({
      // Codes outlive any step here (the phone's whole upstream round trip happens between reading the code and
      // claiming it): nothing rotates or expires while the test watches.
      qrLogin: {
        ticketSeconds: 600,
        rotateSeconds: 600,
        maxRotations: 2,
        confirmSeconds: 600,
        approvedSeconds: 120,
        maxTicketsPerIp: 1000,
        maxScansPerIp: 1000,
      },
    });
    base = server.issuer;
    upstream = await startUpstream([`${base}/login/corp/callback`], {
      'corp-carol': { email: 'carol@corp.example', email_verified: true, name: 'Carol Corp', preferred_username: 'carol' },
      'corp-dave': { email: 'dave@corp.example', email_verified: true, name: 'Dave Corp', preferred_username: 'dave' },
      'corp-erin': { email: 'erin@corp.example', email_verified: true, name: 'Erin Corp', preferred_username: 'erin' },
    });
    const made = await adminFetch(server, 'POST', '/admin/identity-providers', {
      id: 'corp',
      name: 'Corp SSO',
      issuer: upstream.issuer,
      client_id: 'handoff',
      client_secret: SECRET,
      scopes: ['openid', 'email', 'profile'],
    });
    assert.equal(made.status, 201, await made.clone().text());
    relyingParty = await startRelyingParty();
    redirectUri = relyingParty.redirectUri;
    const c = await createClient(server.store, server.provider(), {
      client_id: 'rp',
      client_name: 'Photo App',
      redirect_uris: [redirectUri],
    });
    const meta = (await (await fetch(`${base}/.well-known/openid-configuration`)).json()) as oidc.ServerMetadata;
    rp = new oidc.Configuration(meta, 'rp', String(c.client_secret));
    oidc.allowInsecureRequests(rp);
    browser = await launchChromium();
  });
  beforeEach(() => endLimitWindows(server.db));
  afterEach(async () => {
    for (const c of open.splice(0)) await c.close();
  });
  after(async () => {
    await browser?.close();
    await upstream?.stop();
    await relyingParty?.close();
    await server?.close();
  });

  /** A phone: Chromium with a phone's size, touch and user agent. */
  async function phonePage(): Promise<Page> {
    const ctx = await phoneContext(browser);
    open.push(ctx);
    return ctx.newPage();
  }

  /** A computer's browser. */
  async function desktopPage(): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 900 }, userAgent: DESKTOP_UA });
    open.push(ctx);
    return ctx.newPage();
  }

  /** Whether a URL is the relying party's redirect URI with a query (where a sign-in ends). */
  const atRedirect = (u: URL | string) => String(u).startsWith(`${redirectUri}?`);

  /** The relying party's authorization request (code + PKCE), as its sign-in button would start it. */
  async function authorizationUrl(state: string) {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri,
      scope: 'openid profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    return { url: url.toString(), verifier };
  }

  /**
   * On a Handoff sign-in page: "Continue with Corp SSO", the upstream's own sign-in page (another site), sign in there
   * as `sub`, and the browser is sent back to Handoff's callback. Returns once the callback was requested; where the
   * browser ends after it is each test's to check.
   */
  async function continueWith(page: Page, sub: string): Promise<void> {
    const button = page.getByRole('button', { name: CONTINUE });
    assert.ok(await button.isVisible(), `the sign-in page offers "${CONTINUE}"`);
    await button.click();
    await page.waitForURL((u) => u.origin === upstream.issuer);
    await page.getByRole('heading', { name: 'Upstream sign-in' }).waitFor();
    const back = page.waitForRequest((r) => r.url().startsWith(`${base}/login/corp/callback?`) && r.isNavigationRequest());
    await page.getByLabel('Account').fill(sub);
    await page.getByRole('button', { name: 'Sign in upstream' }).click();
    const callback = new URL((await back).url());
    assert.ok(callback.searchParams.get('code'), 'the upstream answered with a code');
  }

  /** The account the upstream subject signed in to (made by its first sign-in). */
  async function accountOf(username: string) {
    const user = (await server.store.users.list()).find((u) => u.username === username);
    assert.ok(user, `an account ${username} was made from the upstream subject`);
    return user;
  }

  it('a device code: the phone confirms, continues with Corp SSO, signs in upstream, and the device gets tokens whose amr says fed', async () => {
    const d = await deviceAuthorization(base);
    const phone = await phonePage();
    await phone.goto(d.verification_uri_complete);
    await phone.getByRole('heading', { name: 'Sign in to Living Room TV on your device?' }).waitFor();
    await phone.getByRole('button', { name: 'Yes, approve' }).click();
    // A signed-out phone signs in to finish the approval: the page says so and offers the upstream.
    await phone.locator('[data-field="completes"]').waitFor();
    assert.equal(await phone.locator('[data-field="completes"]').textContent(), 'Signing in completes your approval of Living Room TV.');
    assert.equal((await redeem(base, d.device_code)).json.error, 'authorization_pending', 'nothing approved before the sign-in');

    await continueWith(phone, 'corp-carol');
    await phone.getByRole('heading', { name: 'Device connected' }).waitFor();
    assert.ok(phone.url().startsWith(base), `back at Handoff: ${phone.url()}`);
    assert.match(String(await phone.textContent('main')), /Living Room TV is now signed in/);

    const tokens = await redeem(base, d.device_code);
    assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
    const claims = jose.decodeJwt(String(tokens.json.id_token));
    const carol = await accountOf('carol');
    assert.equal(claims.sub, carol.id, 'the device is signed in as the account of the upstream subject');
    const amr = amrOf(claims);
    assert.ok(amr.includes('fed'), `amr says federated: ${JSON.stringify(claims.amr)}`);
    assert.ok(amr.includes('mca'), 'and approved across devices');
    assert.equal(carol.email, 'carol@corp.example');
  });

  it("scan to sign in: the phone signs in through Corp SSO for the desktop's code, approves, and the desktop moves on by itself", async () => {
    const desk = await desktopPage();
    // What the desktop page does by itself: its navigations, and how it hears of the phone (a pushed event stream).
    const navigations: Request[] = [];
    const streams: Request[] = [];
    desk.on('request', (r) => {
      if (r.isNavigationRequest() && r.frame() === desk.mainFrame()) navigations.push(r);
      if (r.url().includes('/qr/events')) streams.push(r);
    });
    const { url, verifier } = await authorizationUrl('scan-state');
    await desk.goto(url);
    await desk.getByRole('heading', { name: 'Sign in with your phone' }).waitFor();
    const signInPage = desk.url();
    assert.match(signInPage, /\/interaction\/[\w-]+$/);
    const shownAt = navigations.length;
    const img = desk.locator('#qr-image');
    await img.waitFor();
    const ticketUrl = decodePng(await img.screenshot()) ?? '';
    assert.ok(ticketUrl.startsWith(`${base}/q/`), `decoded ${ticketUrl}`);

    // The phone, signed out, scans: it signs in first, for this code, and the sign-in offers the upstream.
    const phone = await phonePage();
    await phone.goto(ticketUrl);
    await phone.getByRole('heading', { name: 'Sign in on this phone to confirm Photo App on your computer' }).waitFor();
    assert.equal(await phone.locator('#qr-image').count(), 0, 'a phone is never asked to scan');
    await continueWith(phone, 'corp-dave');

    // Back to the code: the decision page, signed in through the upstream.
    await phone.getByRole('heading', { name: 'Sign in to Photo App on your computer?' }).waitFor();
    assert.equal(phone.url(), ticketUrl, 'the phone comes back to the code it scanned');
    assert.equal(
      await phone.locator('[data-field="signed-in-with"]').textContent(),
      'This phone is signed in through another account provider.',
    );
    assert.match(String(await phone.locator('[data-field="account"]').textContent()), /dave|Dave/);
    assert.equal(await phone.locator('[data-field="device"]').textContent(), 'says it is Chrome on Windows');
    const choices = phone.locator('[data-number-choices] button');
    await choices.first().waitFor();
    assert.equal(await choices.count(), 3);

    // The desktop was told (pushed), with no click and no reload: it shows the number to pick.
    await desk.getByText('Scanned. Confirm on your phone.').waitFor();
    await desk
      .locator('[data-number]')
      .getByText(/^\d\d$/)
      .waitFor();
    const shown = String(await desk.locator('[data-number]').textContent());
    assert.ok((await choices.allTextContents()).includes(shown), 'the desktop’s number is one of the phone’s three');
    assert.equal(desk.url(), signInPage, 'the desktop is still on its sign-in page');

    const callback = desk.waitForRequest((r) => atRedirect(r.url()));
    await phone.getByRole('button', { name: shown, exact: true }).click();
    await phone.getByRole('heading', { name: 'Computer signed in' }).waitFor();
    const back = new URL((await callback).url());
    await desk.waitForURL(atRedirect);
    await desk.getByRole('heading', { name: 'Photo App' }).waitFor();
    assert.equal(back.searchParams.get('state'), 'scan-state');
    assert.ok(back.searchParams.get('code'), 'the relying party gets a code');
    assert.equal(relyingParty.callbacks.at(-1)?.toString(), back.toString(), 'its site received it');

    // Moved on by itself: the page's own form post on the pushed "approved", never a reload of the sign-in page.
    const after = navigations.slice(shownAt);
    assert.equal(after[0]?.method(), 'POST', after.map((r) => `${r.method()} ${r.url()}`).join(', '));
    assert.match(after[0]?.url() ?? '', /\/interaction\/[\w-]+\/qr\/complete$/);
    assert.equal(after.at(-1)?.url(), back.toString(), 'and from there straight to the relying party');
    assert.ok(
      after.every((r) => r.url() !== signInPage),
      `no reload: ${after.map((r) => `${r.method()} ${r.url()}`).join(', ')}`,
    );
    assert.ok(streams.length > 0, 'the desktop followed the code over its event stream');
    assert.ok(
      streams.every((r) => r.resourceType() === 'eventsource'),
      `pushed, not polled: ${streams.map((r) => r.resourceType()).join(', ')}`,
    );

    const tokens = await oidc.authorizationCodeGrant(rp, back, { pkceCodeVerifier: verifier, expectedState: 'scan-state' });
    const dave = await accountOf('dave');
    assert.equal(tokens.claims()?.sub, dave.id, 'the desktop is signed in as the phone’s upstream account');
    const amr = amrOf(tokens.claims());
    assert.ok(amr.includes('fed') && amr.includes('mca'), `amr: ${JSON.stringify(amr)}`);
  });

  it("a relying party's own sign-in: Continue with Corp SSO, the upstream, back, and the browser ends at the redirect URI with the code and its state", async () => {
    const page = await desktopPage();
    const { url, verifier } = await authorizationUrl('rp-state');
    await page.goto(url);
    await page.getByRole('heading', { name: 'Sign in to continue to Photo App' }).waitFor();
    const callback = page.waitForRequest((r) => atRedirect(r.url()));
    // A flow that fails elsewhere never sees its callback: not an unhandled rejection then.
    callback.catch(() => {});
    await continueWith(page, 'corp-erin');

    // A new account has not allowed this app yet: consent, as after any sign-in, when it is asked.
    const allow = page.getByRole('button', { name: 'Allow' });
    const arrived = await Promise.race([
      callback,
      allow.waitFor().then(
        () => undefined,
        () => undefined,
      ),
    ]);
    if (!arrived) {
      assert.match(String(await page.textContent('main')), /Photo App wants to access your account/);
      assert.match(String(await page.textContent('main')), /Signed in as erin/);
      await allow.click();
    }
    const request = arrived ?? (await callback);
    await page.waitForURL(atRedirect);
    await page.getByRole('heading', { name: 'Photo App' }).waitFor();
    const landed = new URL(page.url());
    assert.equal(`${landed.origin}${landed.pathname}`, redirectUri);
    assert.equal(landed.searchParams.get('state'), 'rp-state', 'the same state');
    assert.ok(landed.searchParams.get('code'), 'a code');
    assert.equal(landed.toString(), request.url());
    assert.equal(relyingParty.callbacks.at(-1)?.toString(), landed.toString(), 'its site received it');

    const tokens = await oidc.authorizationCodeGrant(rp, landed, { pkceCodeVerifier: verifier, expectedState: 'rp-state' });
    const erin = await accountOf('erin');
    assert.equal(tokens.claims()?.sub, erin.id);
    assert.ok(amrOf(tokens.claims()).includes('fed'), `amr: ${JSON.stringify(tokens.claims()?.amr)}`);
  });
});
