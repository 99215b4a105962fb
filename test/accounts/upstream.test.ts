import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import { keptTokens } from '../../src/accounts/upstream.js';
import { createClient } from '../../src/admin/clients.js';
import { sha256 } from '../../src/store/hash.js';
import { endLimitWindows } from '../helpers/fixtures.js';
import { type Page, Phone } from '../helpers/phone.js';
import { adminFetch, deviceAuthorization, redeem, startTestServer } from '../helpers/server.js';
import { startSmtp } from '../helpers/smtp.js';

/**
 * Signing in through an upstream OpenID Provider (accounts/upstream.ts): a second, real OpenID Provider process
 * (oidc-provider, test/helpers/upstream-op.ts) for the walks, and a hostile one, made here, for the attacks: each
 * attack must end on a readable 4xx page with nothing created, linked or signed in.
 */
const SECRET = 'upstream-client-secret-0123456789';
/** What a page says (its first paragraph), for assertion messages. */
const said = (page: Page) => /<p[^>]*>([\s\S]*?)<\/p>/.exec(page.html)?.[1] ?? page.html.slice(0, 200);
const REDIRECT = 'https://rp.example.com/callback';

interface Upstream {
  issuer: string;
  stop(): Promise<void>;
}

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
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * A hostile upstream: a real HTTP OpenID Provider whose answers are exactly what the test sets, defects included (a
 * wrong nonce, audience or issuer, a signature by a key it never published, any claims).
 */
interface Hostile {
  issuer: string;
  defect: 'none' | 'nonce' | 'audience' | 'issuer' | 'signature';
  claims: Record<string, unknown>;
  tokenRequests: number;
  /** The tokens of the last token response (a fresh access and refresh token each time). */
  issued: { access_token: string; refresh_token: string } | undefined;
  close(): Promise<void>;
}

async function startHostile(): Promise<Hostile> {
  const key = await jose.generateKeyPair('RS256');
  const other = await jose.generateKeyPair('RS256');
  const jwk = { ...(await jose.exportJWK(key.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const codes = new Map<string, { nonce: string; clientId: string }>();
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const issuer = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const state: Hostile = {
    issuer,
    defect: 'none',
    claims: {},
    tokenRequests: 0,
    issued: undefined,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
  server.on('request', async (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/openid-configuration') {
      json(200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
      });
      return;
    }
    if (url.pathname === '/jwks') return json(200, { keys: [jwk] });
    if (url.pathname === '/authorize') {
      const code = crypto.randomUUID();
      codes.set(code, { nonce: url.searchParams.get('nonce') ?? '', clientId: url.searchParams.get('client_id') ?? '' });
      const back = new URL(url.searchParams.get('redirect_uri') ?? '');
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { location: back.toString() });
      res.end();
      return;
    }
    if (url.pathname === '/token') {
      state.tokenRequests += 1;
      let body = '';
      for await (const chunk of req) body += String(chunk);
      const code = new URLSearchParams(body).get('code') ?? '';
      const issued = codes.get(code);
      codes.delete(code);
      if (!issued) return json(400, { error: 'invalid_grant' });
      const now = Math.floor(Date.now() / 1000);
      const idToken = await new jose.SignJWT({
        nonce: state.defect === 'nonce' ? 'not-the-nonce' : issued.nonce,
        ...state.claims,
      })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(state.defect === 'issuer' ? 'https://evil.example' : issuer)
        .setAudience(state.defect === 'audience' ? 'someone-else' : issued.clientId)
        .setSubject(String(state.claims.sub ?? 'hostile-sub'))
        .setIssuedAt(now)
        .setExpirationTime(now + 300)
        .sign(state.defect === 'signature' ? other.privateKey : key.privateKey);
      state.issued = { access_token: `at-${crypto.randomUUID()}`, refresh_token: `rt-${crypto.randomUUID()}` };
      return json(200, { ...state.issued, token_type: 'Bearer', expires_in: 300, id_token: idToken });
    }
    json(404, { error: 'not_found' });
  });
  return state;
}

describe('signing in through an upstream OpenID Provider', function () {
  this.timeout(120_000);
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let upstream: Upstream;
  let hostile: Hostile;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let base: string;

  const admin = (method: string, path: string, body?: unknown) => adminFetch(server, method, path, body);
  const users = async () => (await server.store.users.list()).map((u) => u.username).sort();
  const links = async () =>
    server
      .db('account_links')
      .count<{ count: string }[]>('* as count')
      .then((r) => Number(r[0]?.count));

  before(async () => {
    smtp = await startSmtp();
    server = await startTestServer({ mail: { smtpUrl: smtp.url } });
    base = server.issuer;
    upstream = await startUpstream([`${base}/login/corp/callback`], {
      'corp-carol': { email: 'carol@corp.example', email_verified: true, name: 'Carol Corp', preferred_username: 'carol' },
      'corp-alice': { email: 'alice@example.com', email_verified: true, name: 'Alice at Corp' },
    });
    hostile = await startHostile();
  });
  after(async () => {
    await upstream?.stop();
    await hostile?.close();
    await server?.close();
    await smtp?.close();
  });
  beforeEach(async () => {
    await endLimitWindows(server.db);
    for (const id of ['corp', 'evil', 'gone']) await server.store.identityProviders.delete(id);
    await server.db('users').whereNot({ username: 'alice' }).delete();
    await server.db('account_links').delete();
    await server.db('upstream_logins').delete();
    hostile.defect = 'none';
    hostile.claims = {};
    const made = await admin('POST', '/admin/identity-providers', {
      id: 'corp',
      name: 'Corp SSO',
      issuer: upstream.issuer,
      client_id: 'handoff',
      client_secret: SECRET,
      scopes: ['openid', 'email', 'profile'],
    });
    assert.equal(made.status, 201, await made.clone().text());
  });

  /** From a Handoff sign-in page, "Continue with <id>", signing in upstream as `sub`; the page Handoff shows after. */
  async function continueWith(phone: Phone, page: Page, id: string, sub: string, upstreamBrowser = new Phone()): Promise<Page> {
    const out = await phone.submit(page, {}, `/upstream/${id}`);
    assert.equal(out.status, 303, out.html.slice(0, 300));
    assert.ok(!out.url.startsWith(base), `the browser leaves for the upstream: ${out.url}`);
    let p = await upstreamBrowser.request(out.url);
    if (p.html.includes('name="sub"')) p = await upstreamBrowser.submit(p, { sub });
    assert.ok(p.url.startsWith(`${base}/login/${id}/callback?`), `the upstream sends the browser back: ${p.url} ${p.html.slice(0, 200)}`);
    return phone.request(p.url);
  }

  /** A device code's phone path up to the sign-in page (confirm first, as a signed-out phone does). */
  async function deviceSignInPage(phone: Phone) {
    const d = await deviceAuthorization(base);
    let page = await phone.request(d.verification_uri_complete);
    page = await phone.submit(page, { confirm: 'yes' });
    return { d, page };
  }

  it('the admin API adds, lists, changes, disables and deletes upstreams; the redirect URI is given, the secret never', async () => {
    const list = (await (await admin('GET', '/admin/identity-providers')).json()) as Array<Record<string, unknown>>;
    assert.equal(list.length, 1);
    assert.equal(list[0]?.redirect_uri, `${base}/login/corp/callback`);
    assert.equal(list[0]?.client_secret_set, true);
    assert.ok(!JSON.stringify(list).includes(SECRET), 'the secret is never shown');
    assert.equal(
      (await admin('POST', '/admin/identity-providers', { id: 'corp', name: 'x', issuer: upstream.issuer, client_id: 'x' })).status,
      409,
    );
    for (const bad of [
      { id: 'Bad Id', name: 'x', issuer: upstream.issuer, client_id: 'x' },
      { id: 'plain', name: 'x', issuer: 'http://idp.example.com', client_id: 'x' },
      { id: 'query', name: 'x', issuer: 'https://idp.example.com/?a=1', client_id: 'x' },
      { id: 'noopenid', name: 'x', issuer: 'https://idp.example.com', client_id: 'x', scopes: ['email'] },
      { id: 'extra', name: 'x', issuer: 'https://idp.example.com', client_id: 'x', admin: true },
    ]) {
      const r = await admin('POST', '/admin/identity-providers', bad);
      assert.equal(r.status, 400, JSON.stringify(bad));
    }
    const changed = await admin('PATCH', '/admin/identity-providers/corp', { name: 'Corp' });
    assert.equal(((await changed.json()) as { name: string }).name, 'Corp');
    const disabled = (await (await admin('POST', '/admin/identity-providers/corp/disable')).json()) as { enabled: boolean };
    assert.equal(disabled.enabled, false);
    assert.equal((await admin('DELETE', '/admin/identity-providers/corp')).status, 204);
    assert.equal((await admin('DELETE', '/admin/identity-providers/corp')).status, 404);
  });

  it('a device code approved by signing in with the upstream: an account is made, the device gets tokens, amr says fed and mca', async () => {
    const phone = new Phone();
    const { d, page } = await deviceSignInPage(phone);
    assert.match(page.html, /Continue with Corp SSO/);
    const done = await continueWith(phone, page, 'corp', 'corp-carol');
    assert.equal(done.status, 200, said(done));
    const tokens = await redeem(base, d.device_code);
    assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
    const claims = jose.decodeJwt(String(tokens.json.id_token));
    assert.deepEqual(claims.amr, ['fed', 'pwd', 'mfa', 'mca']);
    assert.equal(claims.acr, '0');
    const carol = (await server.store.users.list()).find((u) => u.username === 'carol');
    assert.ok(carol, 'an account was made from the upstream subject');
    assert.equal(claims.sub, carol.id);
    assert.equal(carol.email, 'carol@corp.example');
    assert.equal(carol.email_verified, true);
    assert.equal((await server.store.identityProviders.link('corp', 'corp-carol'))?.account_id, carol.id);
    assert.equal(await server.store.users.hasPassword(carol.id), false, 'no password: only the upstream signs in to it');

    // The next sign-in of the same subject lands on the same account.
    const again = new Phone();
    const second = await deviceSignInPage(again);
    await continueWith(again, second.page, 'corp', 'corp-carol');
    const t2 = await redeem(base, second.d.device_code);
    assert.equal(jose.decodeJwt(String(t2.json.id_token)).sub, carol.id);
    assert.deepEqual(await users(), ['alice', 'carol']);
  });

  it("a relying party's sign-in continues where it left off after the upstream", async () => {
    await server.store.clients.delete('rp');
    const c = await createClient(server.store, server.provider(), { client_id: 'rp', client_name: 'Photo App', redirect_uris: [REDIRECT] });
    const rp = new oidc.Configuration(
      (await (await fetch(`${base}/.well-known/openid-configuration`)).json()) as oidc.ServerMetadata,
      'rp',
      String(c.client_secret),
    );
    oidc.allowInsecureRequests(rp);
    const phone = new Phone();
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'rp-state',
    });
    let page = await phone.request(url.toString());
    assert.match(page.html, /Continue with Corp SSO/);
    page = await continueWith(phone, page, 'corp', 'corp-carol');
    if (page.html.includes('name="decision"')) page = await phone.submit(page, { decision: 'allow' });
    assert.ok(page.url.startsWith(`${REDIRECT}?`), page.url);
    const back = new URL(page.url);
    assert.equal(back.searchParams.get('state'), 'rp-state');
    assert.ok(back.searchParams.get('code'));
  });

  it('linking by verified email is off by default, and then only a verified upstream address joins a verified account', async () => {
    // Off: corp-alice (alice@example.com, verified upstream) gets a new account, not alice's.
    let phone = new Phone();
    let flow = await deviceSignInPage(phone);
    await continueWith(phone, flow.page, 'corp', 'corp-alice');
    let t = await redeem(base, flow.d.device_code);
    assert.notEqual(jose.decodeJwt(String(t.json.id_token)).sub, server.userId);

    // The hostile upstream, with linking on, claims alice's address: unverified, or "true" as a string, joins nothing.
    await server.db('account_links').delete();
    await server.db('users').whereNot({ username: 'alice' }).delete();
    assert.equal(
      (
        await admin('POST', '/admin/identity-providers', {
          id: 'evil',
          name: 'Evil',
          issuer: hostile.issuer,
          client_id: 'handoff',
          link_verified_email: true,
        })
      ).status,
      201,
    );
    for (const verified of [false, 'true', undefined]) {
      hostile.claims = {
        sub: `taker-${String(verified)}`,
        email: 'alice@example.com',
        ...(verified === undefined ? {} : { email_verified: verified }),
      };
      phone = new Phone();
      flow = await deviceSignInPage(phone);
      await continueWith(phone, flow.page, 'evil', 'ignored');
      t = await redeem(base, flow.d.device_code);
      assert.notEqual(jose.decodeJwt(String(t.json.id_token)).sub, server.userId, `email_verified ${String(verified)} took over alice`);
    }
    // A verified address joins the account whose own address is verified.
    hostile.claims = { sub: 'alice-at-evil', email: 'ALICE@example.com', email_verified: true };
    phone = new Phone();
    flow = await deviceSignInPage(phone);
    await continueWith(phone, flow.page, 'evil', 'ignored');
    t = await redeem(base, flow.d.device_code);
    assert.equal(jose.decodeJwt(String(t.json.id_token)).sub, server.userId);
  });

  it('the same sub at two upstreams is two people', async () => {
    await admin('POST', '/admin/identity-providers', { id: 'evil', name: 'Evil', issuer: hostile.issuer, client_id: 'handoff' });
    hostile.claims = { sub: 'corp-carol', preferred_username: 'carol' };
    let phone = new Phone();
    let flow = await deviceSignInPage(phone);
    await continueWith(phone, flow.page, 'corp', 'corp-carol');
    const fromCorp = jose.decodeJwt(String((await redeem(base, flow.d.device_code)).json.id_token)).sub;
    phone = new Phone();
    flow = await deviceSignInPage(phone);
    await continueWith(phone, flow.page, 'evil', 'ignored');
    const fromEvil = jose.decodeJwt(String((await redeem(base, flow.d.device_code)).json.id_token)).sub;
    assert.notEqual(fromCorp, fromEvil);
  });

  for (const defect of ['nonce', 'audience', 'issuer', 'signature'] as const) {
    it(`an ID token with a wrong ${defect} gets a readable page; nothing is made, linked or signed in`, async () => {
      await admin('POST', '/admin/identity-providers', { id: 'evil', name: 'Evil', issuer: hostile.issuer, client_id: 'handoff' });
      hostile.defect = defect;
      hostile.claims = { sub: `victim-${defect}`, preferred_username: 'mallory' };
      const before = await users();
      const phone = new Phone();
      const { d, page } = await deviceSignInPage(phone);
      const shown = await continueWith(phone, page, 'evil', 'ignored');
      assert.equal(shown.status, 400);
      assert.match(shown.html, /could not be verified/, said(shown));
      assert.match(shown.html, /Back to sign-in/);
      assert.deepEqual(await users(), before);
      assert.equal(await links(), 0);
      assert.equal((await redeem(base, d.device_code)).json.error, 'authorization_pending');
    });
  }

  it('a callback replayed, or brought to another browser, takes nothing; the code is never exchanged twice', async () => {
    await admin('POST', '/admin/identity-providers', { id: 'evil', name: 'Evil', issuer: hostile.issuer, client_id: 'handoff' });
    hostile.claims = { sub: 'replayed', preferred_username: 'replayed' };
    const phone = new Phone();
    const { page } = await deviceSignInPage(phone);
    const out = await phone.submit(page, {}, '/upstream/evil');
    const callback = (await new Phone().request(out.url)).url;
    // Another browser (an attacker pushing their answer into a victim's browser, or the reverse) has no round trip.
    const elsewhere = await new Phone().request(callback);
    assert.equal(elsewhere.status, 400);
    assert.match(elsewhere.html, /expired, was already used, or was started in another browser/);
    const used = await phone.request(callback);
    assert.equal(used.status, 200, said(used));
    const tokenRequests = hostile.tokenRequests;
    const replay = await phone.request(callback);
    assert.equal(replay.status, 400);
    assert.equal(hostile.tokenRequests, tokenRequests, 'a replayed answer reaches no token endpoint');
  });

  it('an upstream disabled meanwhile, declining, unreachable, or allowing linked accounts only: a readable page, nothing made', async () => {
    const before = await users();
    // Disabled between leaving and coming back.
    let phone = new Phone();
    let flow = await deviceSignInPage(phone);
    let out = await phone.submit(flow.page, {}, '/upstream/corp');
    const up = new Phone();
    let p = await up.request(out.url);
    p = await up.submit(p, { sub: 'corp-carol' });
    await admin('POST', '/admin/identity-providers/corp/disable');
    let shown = await phone.request(p.url);
    assert.equal(shown.status, 400);
    assert.match(shown.html, /has been turned off/);
    await admin('PATCH', '/admin/identity-providers/corp', { enabled: true });

    // The person declines upstream.
    phone = new Phone();
    flow = await deviceSignInPage(phone);
    out = await phone.submit(flow.page, {}, '/upstream/corp');
    const up2 = new Phone();
    p = await up2.request(out.url);
    p = await up2.submit(p, { sub: 'decline' });
    shown = await phone.request(p.url);
    assert.equal(shown.status, 400);
    assert.match(shown.html, /did not sign you in/);

    // Only accounts linked beforehand.
    await admin('PATCH', '/admin/identity-providers/corp', { create_accounts: false });
    phone = new Phone();
    flow = await deviceSignInPage(phone);
    shown = await continueWith(phone, flow.page, 'corp', 'corp-carol');
    assert.equal(shown.status, 400);
    assert.match(shown.html, /No account here is linked to your Corp SSO account/);

    // Nobody listening at the issuer.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await admin('POST', '/admin/identity-providers', { id: 'gone', name: 'Gone', issuer: `http://127.0.0.1:${port}`, client_id: 'x' });
    phone = new Phone();
    flow = await deviceSignInPage(phone);
    shown = await phone.submit(flow.page, {}, '/upstream/gone');
    assert.equal(shown.status, 400);
    assert.match(shown.html, /could not be reached/);
    assert.deepEqual(await users(), before);
    assert.equal(await links(), 0, 'nothing was linked');
  });

  it('a signed-in user links an upstream from the account page after a fresh sign-in, and cannot unlink the last way in', async () => {
    const phone = new Phone();
    // alice signs in with her password on the account pages.
    let page = await phone.request(`${base}/account/signin`);
    page = await phone.submit(page, { username: 'alice', password: 'correct horse battery staple' }, '/login');
    assert.match(page.html, /Link Corp SSO/);
    const out = await phone.submit(page, {}, '/account/links/corp');
    assert.equal(out.status, 303);
    const up = new Phone();
    let p = await up.request(out.url);
    p = await up.submit(p, { sub: 'corp-carol' });
    page = await phone.request(p.url);
    assert.match(page.html, /you can now sign in with that account too/);
    assert.equal((await server.store.identityProviders.link('corp', 'corp-carol'))?.account_id, server.userId);
    // alice has a password, so the link can go.
    page = await phone.submit(page, {}, '/account/links/corp/remove');
    assert.match(page.html, /no longer signs you in here/);
    assert.equal(await server.store.identityProviders.link('corp', 'corp-carol'), undefined);
  });

  it('an account made from the upstream alone cannot unlink its only way in', async () => {
    const phone = new Phone();
    let page = await phone.request(`${base}/account/signin`);
    page = await continueWith(phone, page, 'corp', 'corp-carol');
    const carol = (await server.store.users.list()).find((u) => u.username === 'carol');
    assert.ok(carol, 'the account was made from the upstream');
    assert.equal(await server.store.users.hasPassword(carol.id), false);
    assert.deepEqual(await server.store.passkeys.list(carol.id), []);
    assert.match(page.html, /Unlink/, said(page));
    const refused = await phone.submit(page, {}, '/account/links/corp/remove');
    assert.equal(refused.status, 400);
    assert.match(refused.html, /Corp SSO is the only way you can sign in/, said(refused));
    assert.equal((await server.store.identityProviders.link('corp', 'corp-carol'))?.account_id, carol.id, 'the link is kept');
  });

  it("a callback with this browser's cookie but another state takes nothing and asks the upstream nothing", async () => {
    await admin('POST', '/admin/identity-providers', { id: 'evil', name: 'Evil', issuer: hostile.issuer, client_id: 'handoff' });
    hostile.claims = { sub: 'state-swapped', preferred_username: 'swapped' };
    const before = await users();
    const phone = new Phone();
    const { d, page } = await deviceSignInPage(phone);
    const out = await phone.submit(page, {}, '/upstream/evil');
    const callback = new URL((await new Phone().request(out.url)).url);
    assert.ok(callback.searchParams.get('state'), callback.href);
    callback.searchParams.set('state', `${callback.searchParams.get('state')}x`);
    const tokenRequests = hostile.tokenRequests;
    const shown = await phone.request(callback.href);
    assert.equal(shown.status, 400);
    assert.match(shown.html, /expired, was already used, or was started in another browser/, said(shown));
    assert.equal(hostile.tokenRequests, tokenRequests, 'the code went to no token endpoint');
    assert.deepEqual(await users(), before);
    assert.equal(await links(), 0);
    assert.equal((await redeem(base, d.device_code)).json.error, 'authorization_pending');
  });

  it('an upstream that stops answering between leaving and coming back gets a readable page; nothing is made', async () => {
    const gone = await startHostile();
    try {
      await admin('POST', '/admin/identity-providers', { id: 'gone', name: 'Gone SSO', issuer: gone.issuer, client_id: 'handoff' });
      gone.claims = { sub: 'left-behind', preferred_username: 'left' };
      const before = await users();
      const phone = new Phone();
      const { d, page } = await deviceSignInPage(phone);
      const out = await phone.submit(page, {}, '/upstream/gone');
      const callback = (await new Phone().request(out.url)).url;
      assert.ok(callback.startsWith(`${base}/login/gone/callback?`), callback);
      await gone.close();
      const shown = await phone.request(callback);
      assert.equal(shown.status, 400, said(shown));
      assert.match(shown.html, /Gone SSO could not be reached/, said(shown));
      assert.match(shown.html, /Back to sign-in/);
      assert.equal(gone.tokenRequests, 0);
      assert.deepEqual(await users(), before);
      assert.equal(await links(), 0);
      assert.equal((await redeem(base, d.device_code)).json.error, 'authorization_pending');
    } finally {
      await gone.close();
    }
  });

  it("keep_tokens off (the default): nothing of the upstream's tokens is stored", async () => {
    await admin('POST', '/admin/identity-providers', { id: 'evil', name: 'Evil', issuer: hostile.issuer, client_id: 'handoff' });
    const listed = (await (await admin('GET', '/admin/identity-providers')).json()) as Array<Record<string, unknown>>;
    assert.equal(listed.find((u) => u.id === 'evil')?.keep_tokens, false);
    hostile.claims = { sub: 'no-keep', preferred_username: 'nokeep' };
    const phone = new Phone();
    const { page } = await deviceSignInPage(phone);
    assert.equal((await continueWith(phone, page, 'evil', 'ignored')).status, 200);
    assert.ok(hostile.issued, 'the upstream issued tokens');
    assert.ok(await server.store.identityProviders.link('evil', 'no-keep'), 'the link is made');
    assert.equal(await server.store.identityProviders.keptTokens('evil', 'no-keep'), null);
    const stored = JSON.stringify(await server.db('account_links').select('*'));
    assert.ok(!stored.includes(hostile.issued.access_token) && !stored.includes(hostile.issued.refresh_token));
  });

  it('keep_tokens on: the tokens are kept sealed on the link, replaced at each sign-in, never shown, dropped with the setting or the link', async () => {
    const made = await admin('POST', '/admin/identity-providers', {
      id: 'evil',
      name: 'Evil',
      issuer: hostile.issuer,
      client_id: 'handoff',
      keep_tokens: true,
    });
    assert.equal(made.status, 201);
    assert.equal(((await made.json()) as { keep_tokens: boolean }).keep_tokens, true);
    assert.equal((await admin('PATCH', '/admin/identity-providers/evil', { keep_tokens: 'yes' })).status, 400);
    hostile.claims = { sub: 'keeper', preferred_username: 'keeper' };
    const signIn = async () => {
      const phone = new Phone();
      const { page } = await deviceSignInPage(phone);
      const startedAt = Math.floor(Date.now() / 1000);
      const done = await continueWith(phone, page, 'evil', 'ignored');
      assert.equal(done.status, 200, said(done));
      return { startedAt, endedAt: Math.ceil(Date.now() / 1000), issued: hostile.issued };
    };
    const roots = await server.store.keys.cookie();

    const first = await signIn();
    assert.ok(first.issued);
    const sealed = await server.store.identityProviders.keptTokens('evil', 'keeper');
    assert.ok(sealed, 'tokens are kept');
    assert.ok(!sealed.includes(first.issued.access_token) && !sealed.includes(first.issued.refresh_token), 'never in clear');
    const opened = keptTokens(roots, sealed);
    assert.equal(opened?.access_token, first.issued.access_token);
    assert.equal(opened?.refresh_token, first.issued.refresh_token);
    const expiresAt = opened?.expires_at ?? 0;
    assert.ok(expiresAt >= first.startedAt + 300 && expiresAt <= first.endedAt + 300, String(expiresAt));
    // Under another key (what a `cookie-keys rotate --now` leaves), the sealed value opens to nothing.
    assert.equal(keptTokens(['another-cookie-key-0123456789abcdef'], sealed), undefined);

    // Never in an admin answer, an audit record, or anywhere else in clear.
    const shown = await (await admin('GET', '/admin/identity-providers')).text();
    const audited = JSON.stringify(await server.db('audit_events').select('*'));
    for (const text of [shown, audited, JSON.stringify(await server.db('users').select('*'))])
      assert.ok(!text.includes(first.issued.access_token) && !text.includes(first.issued.refresh_token));

    // The next sign-in replaces them.
    const second = await signIn();
    assert.ok(second.issued);
    assert.notEqual(second.issued.access_token, first.issued.access_token);
    assert.equal(
      keptTokens(roots, await server.store.identityProviders.keptTokens('evil', 'keeper'))?.access_token,
      second.issued.access_token,
    );

    // Turned off: what was kept goes at once, and the next sign-in keeps nothing.
    assert.equal((await admin('PATCH', '/admin/identity-providers/evil', { keep_tokens: false })).status, 200);
    assert.equal(await server.store.identityProviders.keptTokens('evil', 'keeper'), null);
    await signIn();
    assert.equal(await server.store.identityProviders.keptTokens('evil', 'keeper'), null);

    // On again, then the upstream deleted: the link and its tokens go with it.
    await admin('PATCH', '/admin/identity-providers/evil', { keep_tokens: true });
    await signIn();
    assert.ok(await server.store.identityProviders.keptTokens('evil', 'keeper'));
    assert.equal((await admin('DELETE', '/admin/identity-providers/evil')).status, 204);
    assert.equal(await links(), 0);
  });

  it("an upstream asserting another account's confirmed address makes no second confirmed copy of it", async () => {
    // Linking by verified email is off: the upstream's verified address makes a new account, whose address counts for nothing.
    await admin('POST', '/admin/identity-providers', { id: 'evil', name: 'Evil', issuer: hostile.issuer, client_id: 'handoff' });
    hostile.claims = { sub: 'copycat', email: 'Alice@Example.com', email_verified: true, preferred_username: 'copycat' };
    let phone = new Phone();
    let flow = await deviceSignInPage(phone);
    assert.equal((await continueWith(phone, flow.page, 'evil', 'ignored')).status, 200);
    let t = await redeem(base, flow.d.device_code);
    const made = jose.decodeJwt(String(t.json.id_token));
    assert.notEqual(made.sub, server.userId);
    const copy = await server.store.users.byId(String(made.sub));
    assert.equal(copy?.email, 'Alice@Example.com', 'the address is kept for the person to see');
    assert.equal(copy?.email_verified, false, 'but not as confirmed: alice confirmed it first');
    assert.equal(made.email, undefined, 'relying parties are not given it');

    // "Forgot password" by that address still reaches alice only.
    const mailed = smtp.mails.length;
    phone = new Phone();
    await phone.submit(await phone.request(`${base}/account/forgot`), { identifier: 'alice@example.com' });
    await server.mailer.idle();
    const mails = smtp.mails.slice(mailed);
    assert.equal(mails.length, 1);
    assert.equal(mails[0]?.to, 'alice@example.com');
    const secret = String(mails[0]?.link).split('#')[1] ?? '';
    const issued = await server
      .db('account_tokens')
      .first('account_id')
      .where({ token_hash: sha256(secret) });
    assert.equal(issued?.account_id, server.userId, 'the reset link is for alice');

    // Linking by verified email, once turned on, still finds alice (her address is confirmed on one account only).
    await admin('PATCH', '/admin/identity-providers/evil', { link_verified_email: true });
    hostile.claims = { sub: 'alice-at-evil', email: 'alice@example.com', email_verified: true };
    phone = new Phone();
    flow = await deviceSignInPage(phone);
    await continueWith(phone, flow.page, 'evil', 'ignored');
    t = await redeem(base, flow.d.device_code);
    assert.equal(jose.decodeJwt(String(t.json.id_token)).sub, server.userId);
  });
});

describe('an upstream given in the settings file', function () {
  this.timeout(120_000);
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let hostile: Hostile;

  before(async () => {
    hostile = await startHostile();
    server = await startTestServer({
      identityProviders: [
        {
          id: 'file',
          name: 'File SSO',
          issuer: hostile.issuer,
          client_id: 'handoff',
          scopes: ['openid', 'email'],
          enabled: true,
          create_accounts: true,
          link_verified_email: false,
          keep_tokens: true,
        },
      ],
    });
  });
  after(async () => {
    await server?.close();
    await hostile?.close();
  });

  it('is offered, signs in (keeping its tokens as the file says), is listed with its source, and is changed only in the file', async () => {
    const base = server.issuer;
    const phone = new Phone();
    const d = await deviceAuthorization(base);
    let page = await phone.request(d.verification_uri_complete);
    page = await phone.submit(page, { confirm: 'yes' });
    assert.match(page.html, /Continue with File SSO/);
    hostile.claims = { sub: 'from-file', preferred_username: 'filed' };
    const out = await phone.submit(page, {}, '/upstream/file');
    const callback = (await new Phone().request(out.url)).url;
    assert.ok(callback.startsWith(`${base}/login/file/callback?`), callback);
    assert.equal((await phone.request(callback)).status, 200);
    assert.equal((await redeem(base, d.device_code)).status, 200);
    const sealed = await server.store.identityProviders.keptTokens('file', 'from-file');
    assert.equal(keptTokens(await server.store.keys.cookie(), sealed)?.access_token, hostile.issued?.access_token);

    const list = (await (await adminFetch(server, 'GET', '/admin/identity-providers')).json()) as Array<Record<string, unknown>>;
    assert.deepEqual(
      list.map((u) => [u.id, u.source, u.keep_tokens, u.redirect_uri]),
      [['file', 'settings', true, `${base}/login/file/callback`]],
    );
    for (const [method, path, body] of [
      ['PATCH', '/admin/identity-providers/file', { name: 'Renamed' }],
      ['POST', '/admin/identity-providers/file/disable', undefined],
      ['DELETE', '/admin/identity-providers/file', undefined],
      ['POST', '/admin/identity-providers', { id: 'file', name: 'Twin', issuer: hostile.issuer, client_id: 'x' }],
    ] as const) {
      const r = await adminFetch(server, method, path, body);
      assert.equal(r.status, 409, `${method} ${path}`);
      assert.match(await r.text(), /settings file/);
    }
    const after = (await (await adminFetch(server, 'GET', '/admin/identity-providers')).json()) as Array<Record<string, unknown>>;
    assert.deepEqual(after, list, 'nothing changed');
    assert.ok(await server.store.identityProviders.link('file', 'from-file'), 'its link is still there');
  });
});
