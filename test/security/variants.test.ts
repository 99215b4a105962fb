import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createClient } from '../../src/admin/clients.js';
import { bothEngines, type Engine } from '../helpers/db.js';
import { endLimitWindows } from '../helpers/fixtures.js';
import { Phone } from '../helpers/phone.js';
import { rawRequest } from '../helpers/raw-http.js';
import { DEVICE_GRANT, postForm, redeem, startTestServer, TEST_ADMIN_TOKEN } from '../helpers/server.js';

/**
 * Every protected decision, sent every way the libraries accept it: each framing (chunked, `Content-Length`), each
 * declared charset, each spelling of the path (case, trailing slash, doubled slash), each `Origin` (none, `null`,
 * foreign). A variant may be refused where the plain request is not (a doubled slash is no route, a foreign origin is
 * refused by CORS), but never the other way round: the decision the rule protects comes out the same as for the plain
 * request. Bounded in count and time; `VARIANTS_SEED=<seed>` replays a failure. Runs on the shared database, and on
 * PGlite too when that is PostgreSQL.
 */
const RUNS = Number(process.env.VARIANTS_RUNS ?? 60);
const SEED = Number(process.env.VARIANTS_SEED ?? Math.floor(Math.random() * 2 ** 31));

const variant = fc.record({
  chunked: fc.boolean(),
  charset: fc.constantFrom(undefined, 'utf-8', 'UTF-8', 'utf-16le', 'iso-8859-1'),
  spelling: fc.constantFrom('plain', 'upper', 'mixed', 'trailing', 'upper-trailing', 'double'),
  origin: fc.constantFrom(undefined, 'null', 'https://evil.example'),
});
type Variant = typeof variant extends fc.Arbitrary<infer T> ? T : never;

/** A path as the variant spells it. */
function spell(path: string, v: Variant): string {
  switch (v.spelling) {
    case 'upper':
      return path.toUpperCase();
    case 'mixed':
      return path.replace(/[a-z]/g, (c, i: number) => (i % 2 ? c.toUpperCase() : c));
    case 'trailing':
      return `${path}/`;
    case 'upper-trailing':
      return `${path.toUpperCase()}/`;
    case 'double':
      return `/${path}`;
    default:
      return path;
  }
}

function encode(text: string, charset: Variant['charset']): Buffer {
  if (charset === 'utf-16le') return Buffer.from(text, 'utf16le');
  if (charset === 'iso-8859-1') return Buffer.from(text, 'latin1');
  return Buffer.from(text);
}

describe('security: every protected decision, sent every way a library accepts it (property)', () => {
  let engines: Engine[] = [];
  let closeEngines = async () => {};
  before(async () => {
    ({ engines, close: closeEngines } = await bothEngines());
  });
  after(() => closeEngines());

  it(`the same decision as the plain request, on every route that makes one (seed ${SEED})`, async function () {
    this.timeout(300_000);
    for (const engine of engines) {
      const server = await startTestServer(
        { proxy: true, device: { maxAuthorizationsPerIp: 100_000, maxFailedCodesPerSession: 3, maxFailedCodesPerIp: 1000 } },
        await engine.db(),
      );
      try {
        for (const [id, extra] of [
          ['v-narrow', { device_flow_scopes: ['openid'] }],
          ['v-near', { handoff_proximity: 'require' }],
        ] as const) {
          await createClient(server.store, server.provider(), {
            client_id: id,
            token_endpoint_auth_method: 'none',
            grant_types: [DEVICE_GRANT],
            response_types: [],
            ...extra,
          });
        }
        const host = new URL(server.publicUrl).host;
        const send = (base: string, path: string, v: Variant, fields: Record<string, string>, headers: Record<string, string> = {}) => {
          const text = new URLSearchParams(fields).toString();
          return rawRequest(`${base}/`, {
            method: 'POST',
            path: spell(path, v),
            chunked: v.chunked,
            body: encode(text, v.charset),
            headers: {
              host: base === server.adminUrl ? new URL(server.adminUrl).host : host,
              'content-type': `application/x-www-form-urlencoded${v.charset ? `; charset=${v.charset}` : ''}`,
              accept: 'application/json',
              ...(v.origin ? { origin: v.origin } : {}),
              ...headers,
            },
          });
        };
        const codes = async () =>
          Number((await server.db('oidc_store').where({ model: 'DeviceCode' }).count<{ n: string }[]>({ n: '*' }))[0]?.n);
        const start = async (clientId: string, ip: string) => {
          const r = await postForm(`${server.publicUrl}/device/auth`, { client_id: clientId, scope: 'openid' }, { 'x-forwarded-for': ip });
          assert.equal(r.status, 200, JSON.stringify(r.json));
          return r.json as { device_code: string; user_code: string; verification_uri_complete: string };
        };
        let n = 0;
        const ip = () => `198.51.100.${(n++ % 200) + 20}`;

        await fc.assert(
          fc.asyncProperty(variant, fc.constantFrom('scopes', 'guess', 'proximity', 'pacing', 'admin'), async (v, rule) => {
            await endLimitWindows(server.db);
            const what = `${engine.name} ${rule} ${JSON.stringify(v)}`;
            if (rule === 'scopes') {
              // device_flow_scopes: a code for scopes outside the client's list is never minted.
              const before = await codes();
              const r = await send(server.publicUrl, '/device/auth', v, { client_id: 'v-narrow', scope: 'openid email offline_access' });
              assert.ok(r.status >= 400 && r.status < 500, `${what}: ${r.status} ${r.text.slice(0, 160)}`);
              assert.equal(await codes(), before, `${what}: no code was minted`);
            } else if (rule === 'guess') {
              // A wrong user code always counts against the browser session (3 here): the fourth is refused first.
              const live = await start('tv', '203.0.113.10');
              const phone = Phone.at(ip());
              const entry = await phone.request((await start('tv', '203.0.113.10')).verification_uri_complete);
              const xsrf = /name="xsrf" value="([^"]+)"/.exec(entry.html)?.[1] ?? '';
              const cookie = [...phone.cookies].map(([k, x]) => `${k}=${x}`).join('; ');
              const xff = { cookie, 'x-forwarded-for': String(phone.headers['x-forwarded-for']) };
              for (let i = 0; i < 3; i += 1) await send(server.publicUrl, '/device', v, { xsrf, user_code: 'BCDFGHJK' }, xff);
              const found = await send(server.publicUrl, '/device', v, { xsrf, user_code: live.user_code }, xff);
              assert.doesNotMatch(found.text, /name="confirm"/, `${what}: past the limit a live code is not shown (${found.status})`);
              const counted = await server
                .db('rate_counters')
                .where({ bucket: 'user-code:session' })
                .first<{ count: number } | undefined>('count');
              assert.ok(v.spelling === 'double' || Number(counted?.count ?? 0) >= 3, `${what}: the misses were counted`);
            } else if (rule === 'proximity') {
              // require: an approval from another network approves nothing, whatever it sends as confirm.
              const dc = await start('v-near', '203.0.113.10');
              const far = Phone.at('192.0.2.77');
              const page = await far.request(dc.verification_uri_complete);
              const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '';
              const cookie = [...far.cookies].map(([k, x]) => `${k}=${x}`).join('; ');
              await send(
                server.publicUrl,
                '/device',
                v,
                { xsrf, user_code: dc.user_code, confirm: '1' },
                { cookie, 'x-forwarded-for': '192.0.2.77' },
              );
              const poll = await redeem(server.publicUrl, dc.device_code, 'v-near');
              assert.notEqual(poll.status, 200, `${what}: no tokens`);
              assert.ok(['authorization_pending', 'access_denied'].includes(String(poll.json.error)), `${what}: ${poll.json.error}`);
            } else if (rule === 'pacing') {
              // slow_down: a poll right after an accepted one never gets tokens or a fresh pending.
              const dc = await start('tv', '203.0.113.10');
              const fields = { grant_type: DEVICE_GRANT, device_code: dc.device_code, client_id: 'tv' };
              assert.equal((await redeem(server.publicUrl, dc.device_code)).json.error, 'authorization_pending');
              const again = await send(server.publicUrl, '/token', v, fields, { 'x-forwarded-for': '203.0.113.10' });
              // A doubled slash is no route at all (404, plain text).
              const error = again.status === 404 ? undefined : (JSON.parse(again.text || '{}') as { error?: string }).error;
              assert.notEqual(error, 'authorization_pending', `${what}: ${again.status} ${again.text.slice(0, 160)}`);
              assert.ok(again.status >= 400, what);
            } else {
              // The admin listener: no spelling, framing or charset reaches a change without the token.
              const before = (await server.store.users.list()).length;
              const r = await send(server.adminUrl, '/admin/users', { ...v, origin: undefined }, { username: 'mallory', password: 'x' });
              assert.equal(r.status, 401, `${what}: ${r.status}`);
              assert.equal((await server.store.users.list()).length, before, `${what}: nobody was created`);
            }
          }),
          { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: 120_000, endOnFailure: true },
        );
        // The plain requests are allowed where the rules allow them: the property is not vacuous.
        assert.equal((await postForm(`${server.publicUrl}/device/auth`, { client_id: 'v-narrow', scope: 'openid' })).status, 200);
        const admin = await rawRequest(`${server.adminUrl}/admin/users`, {
          headers: { host: new URL(server.adminUrl).host, authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
        });
        assert.equal(admin.status, 200);
      } finally {
        await server.close();
      }
    }
  });
});
