import assert from 'node:assert/strict';
import { rawRequest } from '../helpers/raw-http.js';
import { verifyPassword } from '../../src/accounts/password.js';
import { adminFetch, PASSWORD, startTestServer, TEST_ADMIN_TOKEN } from '../helpers/server.js';

/** Finding 5 (the admin API answered anyone) and finding 7 (5xx and hosts). */
describe('security: the admin API and the hosts Handoff answers to', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer({ proxy: true });
  });
  after(() => server.close());

  const adminHost = () => new URL(server.adminUrl).host;

  it('every admin route needs the bearer token', async () => {
    for (const [method, path] of [
      ['GET', '/admin/users'],
      ['POST', '/admin/keys/rotate'],
      ['GET', '/admin/audit'],
      ['DELETE', '/admin/users/x'],
    ] as const) {
      const none = await fetch(`${server.adminUrl}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
      assert.equal(none.status, 401, `${method} ${path} without a token`);
      assert.match(String(none.headers.get('www-authenticate')), /^Bearer/);
      const wrong = await fetch(`${server.adminUrl}${path}`, {
        method,
        headers: { authorization: 'Bearer not-the-token-at-all-0123456789' },
      });
      assert.equal(wrong.status, 401, `${method} ${path} with a wrong token`);
    }
    assert.equal((await adminFetch(server, 'GET', '/admin/users')).status, 200);
  });

  it('no spelling of a path walks around the token: case, trailing and doubled slashes, encodings (third review, 1)', async () => {
    const host = { host: adminHost() };
    const json = { ...host, 'content-type': 'application/json' };
    const before = await server.store.users.list();
    const attempts: Array<[string, string, string?]> = [
      ['GET', '/ADMIN/users'],
      ['GET', '/Admin/users'],
      ['GET', '/admin/users/'],
      ['GET', '//admin/users'],
      ['GET', '/%61dmin/users'],
      ['GET', '/admin//users'],
      ['POST', '/Admin/users', JSON.stringify({ username: 'mallory', password: 'a long enough password' })],
      ['PATCH', `/Admin/users/${server.userId}`, JSON.stringify({ password: 'taken over by mallory' })],
      ['POST', '/ADMIN/clients', JSON.stringify({ client_id: 'evil', token_endpoint_auth_method: 'none' })],
      ['POST', '/ADMIN/keys/rotate', '{}'],
      ['GET', '/HEALTHZ'],
      ['GET', '/metrics/'],
      ['GET', '/Readyz'],
    ];
    for (const [method, path, body] of attempts) {
      const r = await rawRequest(`${server.adminUrl}/`, { method, path, headers: body ? json : host, ...(body ? { body } : {}) });
      assert.equal(r.status, 401, `${method} ${path} without a token: ${r.status} ${r.text.slice(0, 120)}`);
    }
    assert.deepEqual(await server.store.users.list(), before, 'nothing was created or changed');
    assert.equal(await server.store.clients.find('evil'), undefined);
    const alice = await server.store.users.credentials('alice');
    assert.ok(alice && (await verifyPassword(PASSWORD, alice.password_hash ?? '')), "alice's password is still hers");
    // The exact operations paths stay open to the host's load balancer and Prometheus.
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      assert.equal((await rawRequest(`${server.adminUrl}${path}`, { headers: host })).status, 200, path);
    }
  });

  it('a page in a browser on this machine cannot reach it: any Origin, a foreign Host (DNS rebinding) or a form body is refused', async () => {
    const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    const cross = await rawRequest(`${server.adminUrl}/admin/keys/rotate`, {
      method: 'POST',
      headers: { host: adminHost(), origin: 'https://evil.example', ...auth, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(cross.status, 403);
    const rebound = await rawRequest(`${server.adminUrl}/admin/users`, {
      headers: { host: `evil.example:${new URL(server.adminUrl).port}`, ...auth },
    });
    assert.equal(rebound.status, 403);
    const form = await rawRequest(`${server.adminUrl}/admin/keys/rotate`, {
      method: 'POST',
      headers: { host: adminHost(), ...auth, 'content-type': 'text/plain' },
      body: '',
    });
    assert.equal(form.status, 415);
    const keysBefore = await server.db('signing_keys').count<{ n: string }[]>({ n: '*' });
    assert.equal(Number(keysBefore[0]?.n), 3, 'no key was rotated by any of these');
  });

  it('every admin change is in the audit trail', async () => {
    await adminFetch(server, 'POST', '/admin/users', { username: 'audited', password: 'a long enough password' });
    await adminFetch(server, 'POST', '/admin/keys/rotate');
    const events = (await (await adminFetch(server, 'GET', '/admin/audit?type=admin.keys.rotated')).json()) as Array<{ action: string }>;
    assert.ok(events.some((e) => e.action === 'admin.keys.rotated'));
    const all = (await (await adminFetch(server, 'GET', '/admin/audit')).json()) as Array<{ action: string; detail: unknown }>;
    assert.ok(all.some((e) => e.action === 'admin.user.created'));
    assert.ok(!JSON.stringify(all).includes('a long enough password'), 'no secret in the trail');
  });

  it('hostile admin input gets 400, never a 500', async () => {
    for (const path of [
      '/admin/audit?account=%00',
      '/admin/audit?before=1e400',
      '/admin/audit?before=1e20',
      '/admin/audit?limit=-1',
      '/admin/audit?account=a&account=b',
    ]) {
      const r = await adminFetch(server, 'GET', path);
      assert.equal(r.status, 400, path);
    }
    const head = await rawRequest(`${server.adminUrl}/admin/audit?before=1e20`, {
      method: 'HEAD',
      headers: { host: adminHost(), authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    });
    assert.equal(head.status, 400);
    for (const raw of ['{"client_name":"x","\\u0000":1}', '{"client_name":"\\ud800"}', '{"redirect_uris":["https://a.example/\\udfff"]}']) {
      const r = await adminFetch(server, 'POST', '/admin/clients', undefined, raw);
      assert.equal(r.status, 400, raw);
    }
  });

  it('every URL in discovery derives from ISSUER, whatever Host or X-Forwarded-Host say', async () => {
    const port = new URL(server.publicUrl).port;
    const variants: Array<Record<string, string>> = [
      { host: `evil.example:${port}` },
      { host: `localhost:${port}`, 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
    ];
    for (const headers of variants) {
      const r = await rawRequest(`${server.publicUrl}/.well-known/openid-configuration`, { headers });
      assert.equal(r.status, 200);
      const meta = JSON.parse(r.text) as Record<string, unknown>;
      for (const key of ['token_endpoint', 'jwks_uri', 'authorization_endpoint', 'device_authorization_endpoint', 'userinfo_endpoint']) {
        assert.ok(String(meta[key]).startsWith(`${server.issuer}/`), `${key}: ${meta[key]} with ${JSON.stringify(headers)}`);
      }
    }
    const dc = await rawRequest(`${server.publicUrl}/device/auth`, {
      method: 'POST',
      headers: { host: `evil.example:${port}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'client_id=tv&scope=openid',
    });
    assert.ok(JSON.parse(dc.text).verification_uri.startsWith(`${server.issuer}/`));
  });

  it('a malformed Host is 400 on every page, never a 500', async () => {
    for (const host of ['[::1', 'a b', 'x:99999', 'a/b', '']) {
      for (const path of ['/.well-known/openid-configuration', '/device', '/session/end', '/account/devices']) {
        const r = await rawRequest(`${server.publicUrl}${path}`, { headers: { host } });
        assert.equal(r.status, host === '' ? r.status : 400, `${path} with Host ${JSON.stringify(host)} → ${r.status}`);
        assert.ok(r.status < 500, `${path} with Host ${JSON.stringify(host)} → ${r.status}`);
      }
      const post = await rawRequest(`${server.publicUrl}/device/auth`, {
        method: 'POST',
        headers: { host, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'client_id=tv',
      });
      assert.ok(post.status < 500, `POST /device/auth with Host ${JSON.stringify(host)} → ${post.status}`);
    }
  });

  it('wrong methods get 405 with Allow; session-less resume pages get a readable 400; odd paths never a 500', async () => {
    for (const method of ['GET', 'HEAD']) {
      const r = await fetch(`${server.publicUrl}/device/auth`, { method });
      assert.equal(r.status, 405, `${method} /device/auth`);
      assert.equal(r.headers.get('allow'), 'POST, OPTIONS');
    }
    for (const path of ['/device/anything', '/device/status', '/device/qr', '/DEVICE/x', '/device/x/']) {
      const r = await fetch(`${server.publicUrl}${path}`, { headers: { accept: 'text/html' } });
      assert.ok(r.status >= 400 && r.status < 500, `${path} → ${r.status}`);
    }
    const upper = await fetch(`${server.publicUrl}/DEVICE`, {
      method: 'POST',
      redirect: 'manual',
      body: new URLSearchParams({ user_code: 'x' }),
    });
    assert.ok(upper.status < 500, `POST /DEVICE → ${upper.status}`);
    for (const path of ['/assets/toString', '/assets/__proto__', '/assets/constructor']) {
      assert.equal((await fetch(`${server.publicUrl}${path}`)).status, 404, path);
    }
  });

  it('a handle-shaped bearer token is simply not a token (401)', async () => {
    const r = await fetch(`${server.publicUrl}/me`, { headers: { authorization: `Bearer ~${'a'.repeat(64)}` } });
    assert.equal(r.status, 401);
  });

  it('CORS never answers null, even for a client whose redirect URI has a custom scheme', async () => {
    await adminFetch(server, 'POST', '/admin/clients', {
      client_id: 'native',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      redirect_uris: ['com.example.app:/callback'],
    });
    const r = await fetch(`${server.publicUrl}/token`, {
      method: 'OPTIONS',
      headers: { origin: 'null', 'access-control-request-method': 'POST' },
    });
    assert.notEqual(r.headers.get('access-control-allow-origin'), 'null');
    const post = await fetch(`${server.publicUrl}/token`, {
      method: 'POST',
      headers: { origin: 'null' },
      body: new URLSearchParams({
        client_id: 'native',
        grant_type: 'authorization_code',
        code: 'x',
        redirect_uri: 'com.example.app:/callback',
      }),
    });
    assert.notEqual(post.headers.get('access-control-allow-origin'), 'null');
  });
});
