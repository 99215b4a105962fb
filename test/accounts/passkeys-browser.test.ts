import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createClient } from '../../src/admin/clients.js';
import { blank, launchChromium } from '../helpers/browser.js';
import { endLimitWindows } from '../helpers/fixtures.js';
import { adminFetch, deviceAuthorization, PASSWORD, redeem, startTestServer } from '../helpers/server.js';

const REDIRECT = 'https://rp.example.com/callback';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/**
 * Passkeys in real Chromium with the DevTools protocol's virtual authenticator (an internal platform authenticator
 * with resident keys and user verification), through playwright-core's CDP session.
 */
describe('passkeys, authentication context and step-up (Chromium, virtual authenticator)', function () {
  // Each step waits on an event (a request, an element); on a loaded machine a whole ceremony can take a while.
  this.timeout(180_000);
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;
  let rp: oidc.Configuration;
  const open: BrowserContext[] = [];

  before(async () => {
    server = await startTestServer();
    const c = await createClient(server.store, server.provider(), {
      client_id: 'pk-rp',
      client_name: 'Photo App',
      redirect_uris: [REDIRECT],
    });
    await createClient(server.store, server.provider(), {
      client_id: 'phr-tv',
      client_name: 'Bank TV',
      token_endpoint_auth_method: 'none',
      grant_types: [DEVICE_GRANT],
      response_types: [],
      default_acr_values: ['phr'],
    });
    const meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as oidc.ServerMetadata;
    rp = new oidc.Configuration(meta, 'pk-rp', String(c.client_secret));
    oidc.allowInsecureRequests(rp);
    browser = await launchChromium();
  });
  beforeEach(async () => {
    await endLimitWindows(server.db);
    // Each test starts from an account without a passkey (adding one to an account that has one takes a passkey).
    await server.db('passkeys').delete();
  });
  afterEach(async () => {
    for (const c of open.splice(0)) await c.close();
  });
  after(async () => {
    await browser.close();
    await server.close();
  });

  /**
   * A browser with a virtual authenticator; `credentials()` lists what it holds, `swap()` puts another authenticator
   * (another device, empty) in its place.
   */
  async function withAuthenticator(transport: 'internal' | 'cable' = 'internal'): Promise<{
    ctx: BrowserContext;
    page: Page;
    credentials: () => Promise<unknown[]>;
    swap: () => Promise<void>;
  }> {
    const ctx = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    open.push(ctx);
    await ctx.route('https://rp.example.com/**', (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>Photo App</h1>' }),
    );
    const page = await ctx.newPage();
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const add = async () =>
      (
        await cdp.send('WebAuthn.addVirtualAuthenticator', {
          options: {
            protocol: 'ctap2',
            transport,
            hasResidentKey: true,
            hasUserVerification: true,
            isUserVerified: true,
            automaticPresenceSimulation: true,
          },
        })
      ).authenticatorId;
    let authenticatorId = await add();
    return {
      ctx,
      page,
      credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
      swap: async () => {
        await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
        authenticatorId = await add();
      },
    };
  }

  async function signInWithPassword(page: Page) {
    await page.goto(`${server.publicUrl}/account/devices`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Your devices' }).waitFor();
  }

  async function addPasskey(page: Page, name: string) {
    await page.goto(`${server.publicUrl}/account/devices`);
    await page.getByLabel('Name').last().fill(name);
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.locator(`[data-passkey] input[value="${name}"]`).waitFor();
  }

  async function authorize(page: Page, params: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 's',
      ...params,
    });
    const callback = page.waitForRequest(/^https:\/\/rp\.example\.com\/callback\?/, { timeout: 120_000 });
    // A flow whose test ends elsewhere (an error page) never sees its callback: not an unhandled rejection then.
    callback.catch(() => {});
    // With consent remembered the navigation may end at the relying party at once; the request is what counts.
    await page.goto(url.toString()).catch((err: Error) => {
      if (!/rp\.example\.com|ERR_NAME_NOT_RESOLVED|ERR_ABORTED/.test(err.message)) throw err;
    });
    return { verifier, callback };
  }

  async function tokensFrom(flow: Awaited<ReturnType<typeof authorize>>, page: Page) {
    const consent = page.getByRole('button', { name: 'Allow' });
    const back = await Promise.race([
      flow.callback,
      consent.waitFor({ timeout: 120_000 }).then(
        () => undefined,
        () => undefined,
      ),
    ]);
    if (!back) await consent.click();
    const request = back ?? (await flow.callback);
    return oidc.authorizationCodeGrant(rp, new URL(request.url()), { pkceCodeVerifier: flow.verifier, expectedState: 's' });
  }

  it('registers a passkey on the account page, lists it with a name, and signs in with it by autofill, no username: amr and acr say so', async () => {
    const { ctx, page, credentials } = await withAuthenticator();
    await signInWithPassword(page);
    await addPasskey(page, 'Test laptop');
    assert.equal((await credentials()).length, 1, 'a discoverable credential was created');
    const rows = await server.store.passkeys.list(server.userId);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.name, 'Test laptop');
    assert.match(await page.locator(`[data-passkey="${rows[0]?.id}"]`).innerText(), /never/, 'not used yet');

    // Autofill: the sign-in page asks for a passkey with conditional mediation as it loads (the username field is
    // marked `webauthn`); the virtual authenticator answers as a person picking the suggestion would, with no username.
    await ctx.clearCookies();
    const flow = await authorize(page);
    assert.equal(
      await page
        .locator('#username')
        .getAttribute('autocomplete')
        .catch(() => 'username webauthn'),
      'username webauthn',
    );
    const tokens = await tokensFrom(flow, page);
    const claims = tokens.claims();
    assert.equal(claims?.sub, server.userId);
    assert.deepEqual(claims?.amr, ['hwk', 'user']);
    assert.equal(claims?.acr, 'phr');
    assert.ok((await server.store.passkeys.list(server.userId))[0]?.last_used_at, 'last use recorded');
  });

  it('a second passkey needs a passkey sign-in first: "Confirm it’s you", then Add; the list says when and from where, the audit trail has both', async () => {
    const { page, swap } = await withAuthenticator();
    await signInWithPassword(page);
    await addPasskey(page, 'First key');
    // The session signed in with a password: with a passkey on the account, that is not enough to add another.
    await page.goto(`${server.publicUrl}/account/devices`);
    await page.locator('[data-field="fresh-sign-in"]').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Add a passkey' }).count(), 0);
    await page.getByRole('link', { name: 'Confirm it’s you' }).click();
    await page.locator('[data-field="step-up"]').waitFor();
    assert.equal(await page.getByLabel('Password').count(), 0, 'a password cannot confirm it');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('heading', { name: 'Your devices' }).waitFor();
    // The second passkey lives on another device (an authenticator holds one passkey per account).
    await swap();
    await addPasskey(page, 'Second key');
    const added = await page.locator('[data-passkey] [data-field="added"]').first().innerText();
    assert.match(added, /Chrome|Linux|Windows|macOS/, 'the device it was added from');
    assert.match(added, /127\.0\.0\.1|::1|localhost/, 'and the address');
    const events = (await (await adminFetch(server, 'GET', '/admin/audit?type=account.passkey.added')).json()) as Array<{
      detail: { name: string };
      actor_ip: string;
    }>;
    assert.deepEqual(
      events.slice(0, 2).map((e) => e.detail.name),
      ['Second key', 'First key'],
    );
  });

  it('a passkey from the phone (a cross-device authenticator) signs in on the desktop page with acr phr, then a passkey is offered here', async () => {
    // The phone's passkey: made on the account page with a cross-device (hybrid) authenticator.
    const { ctx, page } = await withAuthenticator('cable');
    await signInWithPassword(page);
    await addPasskey(page, 'My phone');
    await ctx.clearCookies();
    const flow = await authorize(page, { acr_values: 'phr' });
    await page.locator('[data-field="step-up"]').waitFor();
    assert.match(String(await page.locator('[data-field="step-up"]').textContent()), /passkey from your phone|your phone/);
    // This computer gets an authenticator of its own, which the offer after the sign-in uses.
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId: local } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: false,
      },
    });
    await page.getByRole('button', { name: 'Use a passkey from your phone' }).click();
    await page.getByText('Create a passkey on this computer too').waitFor();
    await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: local, enabled: true });
    await page.getByRole('button', { name: 'Create a passkey here' }).click();
    const tokens = await tokensFrom(flow, page);
    assert.equal(tokens.claims()?.acr, 'phr', 'the browser checked the phone was near: phishing-resistant');
    assert.deepEqual(tokens.claims()?.amr, ['hwk', 'user']);
    const names = (await server.store.passkeys.list(server.userId)).map((p) => p.name);
    assert.equal(names.length, 2, `the phone's passkey and one on this computer: ${names.join(', ')}`);
    assert.equal((await cdp.send('WebAuthn.getCredentials', { authenticatorId: local })).credentials.length, 1);
  });

  it('a password session is asked to step up with a passkey for acr_values=phr; a password alone gets acr 0', async () => {
    const { ctx, page } = await withAuthenticator();
    await signInWithPassword(page);
    await addPasskey(page, 'Step-up key');
    const plain = await authorize(page);
    const first = await tokensFrom(plain, page);
    assert.equal(first.claims()?.acr, '0');
    assert.deepEqual(first.claims()?.amr, ['pwd']);

    const strict = await authorize(page, { acr_values: 'phr' });
    await page.locator('[data-field="step-up"]').waitFor();
    assert.equal(await page.getByLabel('Password').count(), 0, 'only a passkey is offered');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    const second = await tokensFrom(strict, page);
    assert.equal(second.claims()?.acr, 'phr');
    await ctx.clearCookies();
  });

  it('a device client with default_acr_values phr: a password phone is stepped up, a passkey phone approves, and the tokens say so across devices', async () => {
    const { page } = await withAuthenticator();
    await signInWithPassword(page);
    await addPasskey(page, 'Phone key');
    const dc = await deviceAuthorization(server.publicUrl, 'phr-tv', 'openid');
    await page.goto(dc.verification_uri_complete);
    await page.locator('[data-field="needs-passkey"]').waitFor();
    assert.match(await page.locator('[data-field="signed-in-with"]').innerText(), /with a password/);
    await page.getByRole('button', { name: 'Yes, approve' }).click();
    await page.locator('[data-field="step-up"]').waitFor();
    assert.equal(
      (await redeem(server.publicUrl, dc.device_code, 'phr-tv')).json.error,
      'authorization_pending',
      'not approved by a password',
    );
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('heading', { name: 'Device connected' }).waitFor();
    const tokens = await redeem(server.publicUrl, dc.device_code, 'phr-tv');
    assert.equal(tokens.status, 200);
    const payload = JSON.parse(Buffer.from(String(tokens.json.id_token).split('.')[1] ?? '', 'base64url').toString()) as Record<
      string,
      unknown
    >;
    // A cross-device approval is never phr (third review, 8): the phone's passkey and the hop are both in amr.
    assert.equal(payload.acr, '0');
    assert.deepEqual(payload.amr, ['hwk', 'user', 'mca']);

    // The next code on this phone (now signed in with a passkey) says so and needs no step-up.
    const next = await deviceAuthorization(server.publicUrl, 'phr-tv', 'openid');
    await page.goto(next.verification_uri_complete);
    assert.match(await page.locator('[data-field="signed-in-with"]').innerText(), /with a passkey/);
    assert.equal(await page.locator('[data-field="needs-passkey"]').count(), 0);
  });

  it('refuses replayed, forged and malformed answers with 400 and changes nothing; a removed passkey stops working at once', async () => {
    const { ctx, page } = await withAuthenticator();
    await signInWithPassword(page);
    await addPasskey(page, 'Short-lived');
    const registered = (await server.store.passkeys.list(server.userId)).find((p) => p.name === 'Short-lived');
    assert.ok(registered);
    await ctx.clearCookies();

    // Capture a real answer as it is posted (by autofill), let it sign in, then replay it.
    const posted = page.waitForRequest((r) => r.method() === 'POST' && /\/interaction\/[^/]+\/passkey$/.test(r.url()), {
      timeout: 120_000,
    });
    const flow = await authorize(page);
    const request = await posted;
    const captured = { url: request.url(), body: request.postData() ?? '' };
    await flow.callback;
    const cookies = (await ctx.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const counter = (await server.store.passkeys.find(registered.id))?.counter;
    const replay = await fetch(captured.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: cookies },
      body: captured.body,
    });
    assert.equal(replay.status, 400, 'a replayed answer is refused');
    for (const body of [
      '{',
      JSON.stringify({ csrf: JSON.parse(captured.body).csrf, response: { id: registered.id, response: { clientDataJSON: 'e30' } } }),
    ]) {
      const res = await fetch(captured.url, { method: 'POST', headers: { 'content-type': 'application/json', cookie: cookies }, body });
      assert.ok(res.status >= 400 && res.status < 500, `${res.status} for ${body.slice(0, 40)}`);
    }
    assert.equal((await server.store.passkeys.find(registered.id))?.counter, counter, 'nothing changed');

    // Removing takes a confirmation; then the same authenticator no longer signs in. (Signing in to the account
    // page now happens by autofill: the authenticator holds a passkey for this site.)
    await ctx.clearCookies();
    await blank(page);
    await page.goto(`${server.publicUrl}/account/devices`);
    await page.getByRole('heading', { name: 'Your devices' }).waitFor();
    await page.goto(`${server.publicUrl}/account/passkeys/${encodeURIComponent(registered.id)}/remove`);
    await page.getByRole('heading', { name: 'Remove this passkey' }).waitFor();
    await page.getByRole('button', { name: 'Remove this passkey' }).click();
    await page.getByRole('heading', { name: 'Your devices' }).waitFor();
    assert.equal(
      (await server.store.passkeys.list(server.userId)).some((p) => p.id === registered.id),
      false,
    );
    await ctx.clearCookies();
    await blank(page);
    await authorize(page);
    await page.getByText('This passkey is not registered here').waitFor();
  });
});
