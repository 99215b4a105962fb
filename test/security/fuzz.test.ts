import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bothEngines, type Engine } from '../helpers/db.js';
import { Phone } from '../helpers/phone.js';
import { rawRequest } from '../helpers/raw-http.js';
import { DEVICE_GRANT, postForm, startTestServer, TEST_ADMIN_TOKEN } from '../helpers/server.js';

/**
 * A property-based fuzz of every public and admin route: generated methods, paths, headers (Host included), query
 * strings and bodies. Whatever arrives, Handoff answers below 500, never reflects markup, and a normal device flow
 * still completes afterwards. Bounded in count and time; the seed is printed so a failure can be replayed
 * (`FUZZ_SEED=<seed> npm test`). Runs on the shared database, and on PGlite too when that is PostgreSQL.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 350);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const MARKUP = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>"];
const REFLECTED = /<script>alert\(1\)<\/script>|<img src=x onerror|<svg onload/;

const segment = fc.oneof(
  fc.constantFrom(
    'x',
    'auth',
    'status',
    'qr',
    'abc.png',
    'toString',
    '__proto__',
    '..',
    '%00',
    '%ZZ',
    'a'.repeat(300),
    ...MARKUP.map(encodeURIComponent),
  ),
  fc.stringMatching(/^[\w.~-]{1,43}$/),
);
const PUBLIC = [
  '/token',
  '/token/introspection',
  '/token/revocation',
  '/device/auth',
  '/device',
  '/device/:x',
  '/device/qr/:x',
  '/device/status/:x',
  '/auth',
  '/auth/:x',
  '/me',
  '/jwks',
  '/.well-known/openid-configuration',
  '/.well-known/oauth-authorization-server',
  '/session/end',
  '/session/end/confirm',
  '/session/end/success',
  '/request',
  '/reg',
  '/interaction/:x',
  '/interaction/:x/login',
  '/interaction/:x/confirm',
  '/interaction/:x/qr/rotate',
  '/interaction/:x/qr/events',
  '/interaction/:x/qr/complete',
  '/interaction/:x/passkey/options',
  '/interaction/:x/passkey',
  '/q/:x',
  '/q/claim',
  '/q/decide',
  '/q/result/:x',
  '/account/devices',
  '/account/devices/:x/revoke',
  '/account/apps/:x/remove',
  '/account/passkeys/options',
  '/account/passkeys',
  '/account/passkeys/:x/rename',
  '/account/passkeys/:x/remove',
  '/account/sessions/end',
  '/account',
  '/favicon.ico',
  '/account/signin',
  '/account/callback',
  '/assets/:x',
  '/demo/tv',
  '/',
  '/:x',
];
const ADMIN = [
  '/admin/users',
  '/admin/users/:x',
  '/admin/users/:x/sessions',
  '/admin/users/:x/sessions/end',
  '/admin/clients',
  '/admin/clients/:x',
  '/admin/clients/:x/rotate-secret',
  '/admin/keys/rotate',
  '/admin/cookie-keys/rotate',
  '/admin/audit',
  '/admin/db/migrate',
  '/healthz',
  '/readyz',
  '/metrics',
  '/:x',
];
const path = (templates: string[]) =>
  fc.tuple(fc.constantFrom(...templates), segment, fc.constantFrom('', '', '', '/'), fc.boolean()).map(([t, s, slash, upper]) => {
    const p = t.replace(':x', s) + slash;
    return upper ? p.toUpperCase() : p;
  });
const text = fc.oneof(
  fc.constantFrom(...MARKUP, '', '\u0000', '\ud800', '1e400', '-1', 'null', '{}', '[]', 'openid'),
  fc.string({ maxLength: 40 }),
);
const header = fc.oneof(
  fc.constantFrom(...MARKUP, '', 'null', '[::1', 'a b', 'x:99999', '1e400'),
  fc.stringMatching(/^[\x20-\x7e]{0,60}$/),
);
const query = fc.dictionary(
  fc.constantFrom('client_id', 'user_code', 'scope', 'ticket', 'account', 'before', 'limit', 'redirect_uri', 'x'),
  text,
  {
    maxKeys: 4,
  },
);
const body = fc.oneof(
  fc.constant(undefined),
  fc
    .dictionary(
      fc.constantFrom(
        'client_id',
        'grant_type',
        'device_code',
        'user_code',
        'scope',
        'xsrf',
        'csrf',
        'ticket',
        'decision',
        'username',
        'password',
        'token',
        'confirm',
        'abort',
        'x',
      ),
      text,
      { maxKeys: 6 },
    )
    .map((d) => ({ type: 'application/x-www-form-urlencoded', text: new URLSearchParams(d).toString() })),
  fc.jsonValue({ maxDepth: 3 }).map((v) => ({ type: 'application/json', text: JSON.stringify(v) })),
  fc
    .tuple(fc.constantFrom('text/plain', 'application/json', 'application/x-www-form-urlencoded'), fc.string({ maxLength: 200 }))
    .map(([type, t]) => ({ type, text: t })),
);
const request = (templates: string[]) =>
  fc.record({
    method: fc.constantFrom('GET', 'GET', 'POST', 'POST', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH'),
    path: path(templates),
    query,
    body,
    host: fc.oneof(fc.constant(undefined), header),
    forwardedFor: fc.oneof(fc.constant(undefined), fc.constantFrom('203.0.113.1', '2001:db8::1', '198.51.100.3', '<x>', ''), header),
    forwardedHost: fc.oneof(fc.constant(undefined), header),
    origin: fc.oneof(fc.constant(undefined), fc.constantFrom('null', 'https://evil.example', 'file://'), header),
    accept: fc.constantFrom('text/html', 'application/json', 'text/event-stream', '*/*', ''),
    prefer: fc.oneof(fc.constant(undefined), fc.constantFrom('wait=1', 'wait=99999999', 'wait=-1', 'wait="x"')),
    cookie: fc.oneof(
      fc.constant(undefined),
      fc.constantFrom('_session=x', '_session=x; _session.sig=y', 'handoff_known=a.b', '_interaction_resume=x'),
      header,
    ),
    authorization: fc.oneof(
      fc.constant(undefined),
      fc.constantFrom(`Bearer ${TEST_ADMIN_TOKEN}`, 'Bearer x', `Bearer ~${'a'.repeat(64)}`, 'Basic eDp5'),
      header,
    ),
    language: fc.oneof(fc.constant(undefined), fc.constantFrom('zh-CN', 'en;q=0', '*;q=abc'), header),
  });

type Generated = fc.Arbitrary<ReturnType<typeof request> extends fc.Arbitrary<infer T> ? T : never>;

async function send(base: string, r: Generated extends fc.Arbitrary<infer T> ? T : never) {
  const url = new URL(base);
  const qs = new URLSearchParams(r.query).toString();
  const headers: Record<string, string> = { host: r.host ?? url.host, accept: r.accept };
  for (const [k, v] of [
    ['x-forwarded-for', r.forwardedFor],
    ['x-forwarded-host', r.forwardedHost],
    ['origin', r.origin],
    ['prefer', r.prefer],
    ['cookie', r.cookie],
    ['authorization', r.authorization],
    ['accept-language', r.language],
  ] as const) {
    if (v !== undefined) headers[k] = v;
  }
  if (r.body) headers['content-type'] = r.body.type;
  return rawRequest(`${base}${r.path}${qs ? `?${qs}` : ''}`, { method: r.method, headers, ...(r.body ? { body: r.body.text } : {}) });
}

describe('fuzz: generated requests to every route', () => {
  let engines: Engine[] = [];
  let closeEngines = async () => {};
  before(async () => {
    ({ engines, close: closeEngines } = await bothEngines());
  });
  after(() => closeEngines());

  it(`never answers 5xx or reflects markup, and a device flow still completes (seed ${SEED})`, async function () {
    this.timeout(240_000);
    for (const engine of engines) {
      const server = await startTestServer({ proxy: true, realtime: { maxWaitSeconds: 1 } }, await engine.db());
      try {
        for (const [name, base, templates] of [
          ['public', server.publicUrl, PUBLIC],
          ['admin', server.adminUrl, ADMIN],
        ] as const) {
          await fc.assert(
            fc.asyncProperty(request(templates), async (r) => {
              let res: Awaited<ReturnType<typeof rawRequest>>;
              try {
                res = await send(base, r);
              } catch (err) {
                // The client refused to send it (an invalid header value): nothing reached the server.
                if ((err as NodeJS.ErrnoException).code?.startsWith('ERR_')) return;
                throw err;
              }
              assert.ok(
                res.status >= 100 && res.status < 500,
                `${engine.name} ${name}: ${r.method} ${r.path} → ${res.status} ${res.text.slice(0, 200)}`,
              );
              assert.doesNotMatch(res.text, REFLECTED, `${engine.name} ${name}: ${r.method} ${r.path} reflected markup`);
            }),
            { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: 90_000, endOnFailure: true },
          );
        }
        // Afterwards, a normal device flow from a client the fuzz never was.
        const from = { 'x-forwarded-for': '192.0.2.250' };
        const started = await postForm(`${server.publicUrl}/device/auth`, { client_id: 'tv', scope: 'openid profile' }, from);
        assert.equal(started.status, 200, JSON.stringify(started.json));
        const page = await Phone.at('192.0.2.251').approveDevice(String(started.json.verification_uri_complete));
        assert.match(page.html, /Device connected/);
        const tokens = await postForm(
          `${server.publicUrl}/token`,
          { grant_type: DEVICE_GRANT, device_code: String(started.json.device_code), client_id: 'tv' },
          from,
        );
        assert.equal(tokens.status, 200, `${engine.name}: the device flow still completes (${JSON.stringify(tokens.json)})`);
      } finally {
        await server.close();
      }
    }
  });
});
