import assert from 'node:assert/strict';
import { endLimitWindows } from '../helpers/fixtures.js';
import { Phone } from '../helpers/phone.js';
import { PASSWORD, postForm, startTestServer } from '../helpers/server.js';
import * as oidc from 'openid-client';
import { createClient } from '../../src/admin/clients.js';

/**
 * Findings 1 and 3 and their relatives, as an attacker would try them: distinct clients are distinct
 * `X-Forwarded-For` values behind a trusted proxy (PROXY=true), from the documentation ranges.
 */
const from = (address: string) => ({ 'x-forwarded-for': address });
const ATTACKER = '203.0.113.9';
const TV = '198.51.100.7';

describe('security: nobody can spend a budget that others need', () => {
  describe('device authorizations (finding 1)', () => {
    let server: Awaited<ReturnType<typeof startTestServer>>;
    before(async () => {
      server = await startTestServer({ proxy: true, device: { maxAuthorizationsPerIp: 5, authorizationWindowSeconds: 60 } });
    });
    beforeEach(() => endLimitWindows(server.db));
    after(() => server.close());

    const authorize = (address: string) => postForm(`${server.publicUrl}/device/auth`, { client_id: 'tv', scope: 'openid' }, from(address));

    it('one address flooding is stopped alone; a TV on another network still gets a code', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 40; i += 1) statuses.push((await authorize(ATTACKER)).status);
      assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200]);
      assert.ok(
        statuses.slice(5).every((s) => s === 429),
        'the flooding address is refused',
      );
      const refused = await authorize(ATTACKER);
      assert.equal(refused.json.error, 'slow_down');
      assert.ok(Number(refused.headers.get('retry-after')) > 0);
      assert.equal((await authorize(TV)).status, 200, 'the TV is not hurt');
    });

    it('25 addresses of one /24 sending as fast as they can do not stop a TV elsewhere (no per-client ceiling by default)', async () => {
      assert.equal(server.config.device.maxAuthorizationsPerClient, null, 'the per-client circuit breaker is off by default');
      const attackers = Array.from({ length: 25 }, (_, i) => `203.0.113.${i + 10}`);
      const results = await Promise.all(attackers.map(async (a) => Promise.all(Array.from({ length: 8 }, () => authorize(a)))));
      const statuses = results.flat().map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 200).length, 25 * 5, 'each attacking address gets only its own budget');
      assert.ok(statuses.every((s) => s === 200 || s === 429));
      assert.equal((await authorize(TV)).status, 200);
    });

    it('with a per-client ceiling set, requests refused by the address limit spend none of the client budget', async () => {
      const guarded = await startTestServer({
        proxy: true,
        device: { maxAuthorizationsPerIp: 5, maxAuthorizationsPerClient: 8, authorizationWindowSeconds: 60 },
      });
      try {
        const go = (address: string) => postForm(`${guarded.publicUrl}/device/auth`, { client_id: 'tv', scope: 'openid' }, from(address));
        for (let i = 0; i < 50; i += 1) await go(ATTACKER);
        const tv = await go(TV);
        assert.equal(tv.status, 200, 'only the 5 accepted requests counted against the client: the TV gets a code');
      } finally {
        await guarded.close();
      }
    });

    it('every address of an IPv6 /64 shares one budget; another /64 has its own', async () => {
      const statuses: number[] = [];
      for (let i = 1; i <= 8; i += 1) statuses.push((await authorize(`2001:db8:aa:bb::${i.toString(16)}`)).status);
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429], 'rotating addresses inside one /64 earns nothing');
      assert.equal((await authorize('2001:db8:aa:bc::1')).status, 200);
    });
  });

  describe('passwords (finding 3)', () => {
    let server: Awaited<ReturnType<typeof startTestServer>>;
    let rp: oidc.Configuration;
    before(async () => {
      server = await startTestServer({
        proxy: true,
        login: { maxFailuresPerAccountAndAddress: 5, maxFailuresPerAddress: 20, maxFailuresPerAccount: 12, maxFailuresPerKnownBrowser: 5 },
      });
      const c = await createClient(server.store, server.provider(), {
        client_id: 'rp',
        client_name: 'Photo App',
        redirect_uris: ['https://rp.example.com/cb'],
      });
      rp = new oidc.Configuration(
        (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as oidc.ServerMetadata,
        'rp',
        String(c.client_secret),
      );
      oidc.allowInsecureRequests(rp);
    });
    beforeEach(() => endLimitWindows(server.db));
    after(() => server.close());

    async function loginPage(phone: Phone) {
      const url = oidc.buildAuthorizationUrl(rp, {
        redirect_uri: 'https://rp.example.com/cb',
        scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      });
      return phone.request(url.toString());
    }
    const signedIn = (html: string) => /wants to access your account/.test(html);

    it('five wrong passwords from one address lock only that address out of that account', async () => {
      const attacker = Phone.at(ATTACKER);
      const page = await loginPage(attacker);
      const statuses: number[] = [];
      for (let i = 0; i < 8; i += 1) statuses.push((await attacker.submit(page, { username: 'alice', password: `wrong-${i}` })).status);
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
      const locked = await attacker.submit(page, { username: 'alice', password: PASSWORD });
      assert.equal(locked.status, 429, 'the attacker is slowed even with the right password');

      const owner = Phone.at('198.51.100.20');
      const ok = await owner.submit(await loginPage(owner), { username: 'alice', password: PASSWORD });
      assert.ok(signedIn(ok.html), 'the owner on another address gets in');
    });

    it('an attack spread over many addresses slows new browsers only; a browser that signed in before still gets in', async () => {
      // The owner signed in from this browser before: it carries the known-browser cookie.
      const owner = Phone.at('198.51.100.30');
      assert.ok(signedIn((await owner.submit(await loginPage(owner), { username: 'alice', password: PASSWORD })).html));

      for (let a = 0; a < 6; a += 1) {
        const attacker = Phone.at(`203.0.113.${100 + a}`);
        const page = await loginPage(attacker);
        for (let i = 0; i < 2; i += 1) await attacker.submit(page, { username: 'alice', password: `guess-${a}-${i}` });
      }
      const stranger = Phone.at('192.0.2.50');
      const refused = await stranger.submit(await loginPage(stranger), { username: 'alice', password: PASSWORD });
      assert.equal(refused.status, 429, 'past the account-wide budget, unknown browsers wait');

      // Later, its session gone (signed out, expired), the same browser signs in again.
      for (const name of [...owner.cookies.keys()]) if (name !== 'handoff_known') owner.cookies.delete(name);
      const back = await owner.submit(await loginPage(owner), { username: 'alice', password: PASSWORD });
      assert.ok(signedIn(back.html), 'the known browser is never locked out by others');
    });

    it('one canonical username: case, width and dotted I change nothing about the budget', async () => {
      const attacker = Phone.at(ATTACKER);
      const page = await loginPage(attacker);
      for (let i = 0; i < 5; i += 1) await attacker.submit(page, { username: 'alice', password: `wrong-${i}` });
      for (const variant of ['ALICE', ' Alice ', 'ａｌｉｃｅ']) {
        assert.equal(
          (await attacker.submit(page, { username: variant, password: PASSWORD })).status,
          429,
          `${variant} is the same account`,
        );
      }
      const dotted = await attacker.submit(page, { username: 'alİce', password: PASSWORD });
      assert.equal(dotted.status, 401, 'a name outside ASCII names no account: no sign-in, no fresh budget');
    });

    it('an address past its limit creates no counter row per new username', async () => {
      const attacker = Phone.at(ATTACKER);
      const page = await loginPage(attacker);
      for (let i = 0; i < 20; i += 1) await attacker.submit(page, { username: `user${i}`, password: 'x' });
      const before = (await server.db('rate_counters').count<{ n: string }[]>({ n: '*' }))[0]?.n;
      for (let i = 20; i < 40; i += 1) assert.equal((await attacker.submit(page, { username: `user${i}`, password: 'x' })).status, 429);
      const after = (await server.db('rate_counters').count<{ n: string }[]>({ n: '*' }))[0]?.n;
      assert.equal(after, before);
    });

    it('a NUL byte in the username is a wrong password, not a 500', async () => {
      const phone = Phone.at('192.0.2.77');
      const r = await phone.submit(await loginPage(phone), { username: 'ali\u0000ce', password: PASSWORD });
      assert.equal(r.status, 401);
    });
  });

  describe('user codes (RFC 8628 5.1, guessing)', () => {
    let server: Awaited<ReturnType<typeof startTestServer>>;
    before(async () => {
      server = await startTestServer({ proxy: true, device: { maxFailedCodesPerIp: 3, maxFailedCodesPerSession: 10 } });
    });
    beforeEach(() => endLimitWindows(server.db));
    after(() => server.close());

    const startTv = async () =>
      (await postForm(`${server.publicUrl}/device/auth`, { client_id: 'tv', scope: 'openid' }, from(TV))).json as {
        user_code: string;
        verification_uri_complete: string;
      };

    it('an address out of guesses cannot find even a real code; the owner opening the QR is not slowed', async () => {
      const attacker = Phone.at(ATTACKER);
      const entry = await attacker.request(`${server.publicUrl}/device`);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i += 1) statuses.push((await attacker.submit(entry, { user_code: `BBBB-BBB${'CDFG'[i]}` })).status);
      assert.deepEqual(statuses, [400, 400, 400, 429]);
      const dc = await startTv();
      const found = await attacker.submit(entry, { user_code: dc.user_code });
      assert.equal(found.status, 429, 'past the limit the right code is refused like any other');
      assert.doesNotMatch(found.html, /name="confirm"/);

      const owner = Phone.at('198.51.100.20');
      for (let i = 0; i < 5; i += 1) {
        const page = await owner.request(dc.verification_uri_complete);
        assert.equal(page.status, 200);
        assert.match(page.html, /name="confirm"/, `opening the link a ${i + 1}th time still shows the request`);
      }
      const typed = await owner.submit(await owner.request(`${server.publicUrl}/device`), { user_code: dc.user_code });
      assert.match(typed.html, /name="confirm"/, 'a correct code spends nothing: still within 3 after 6 correct ones');
    });
  });
});
