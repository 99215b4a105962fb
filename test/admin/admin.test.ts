import assert from 'node:assert/strict';
import { deviceAuthorization, postForm, startTestServer, TEST_ADMIN_TOKEN } from '../helpers/server.js';

async function call(base: string, method: string, path: string, body?: unknown, raw?: string) {
  const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const res = await fetch(`${base}${path}`, {
    method,
    ...(body !== undefined || raw !== undefined
      ? { body: raw ?? JSON.stringify(body), headers: { 'content-type': 'application/json', ...auth } }
      : { headers: auth }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown> & Array<Record<string, unknown>>) : undefined };
}

describe('admin API', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('listens on 127.0.0.1 only', () => {
    assert.match(server.adminUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('creates users without ever returning the password or its hash, and refuses duplicates and bad input', async () => {
    const created = await call(server.adminUrl, 'POST', '/admin/users', {
      username: 'bob',
      password: 'a long enough password',
      email: 'bob@example.com',
    });
    assert.equal(created.status, 201);
    assert.equal(created.body?.username, 'bob');
    assert.ok(!JSON.stringify(created.body).includes('password'));
    assert.ok(!JSON.stringify(created.body).includes('scrypt'));

    const dup = await call(server.adminUrl, 'POST', '/admin/users', { username: 'BOB', password: 'another long password' });
    assert.equal(dup.status, 409);

    for (const [body, field] of [
      [{ password: 'a long enough password' }, 'username'],
      [{ username: 'carol', password: 'short' }, 'password'],
      [{ username: '<script>', password: 'a long enough password' }, 'username'],
      [{ username: 'carol', password: 'a long enough password', email: 'not-an-email' }, 'email'],
      [{ username: 'carol', password: 'a long enough password', admin: true }, 'admin'],
    ] as const) {
      const r = await call(server.adminUrl, 'POST', '/admin/users', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body?.field, field);
      assert.match(String(r.body?.error_description), new RegExp(field));
    }

    const list = await call(server.adminUrl, 'GET', '/admin/users');
    assert.deepEqual(list.body?.map((u) => u.username).sort(), ['alice', 'bob']);
    assert.ok(!JSON.stringify(list.body).includes('scrypt'));

    const id = String(created.body?.id);
    assert.equal((await call(server.adminUrl, 'DELETE', `/admin/users/${id}`)).status, 204);
    assert.equal((await call(server.adminUrl, 'DELETE', `/admin/users/${id}`)).status, 404);
  });

  it('registers clients with oidc-provider validation, a one-time secret, and takes effect without a restart', async () => {
    const web = await call(server.adminUrl, 'POST', '/admin/clients', {
      client_name: 'Web app',
      redirect_uris: ['https://app.example.com/cb'],
      grant_types: ['authorization_code', 'refresh_token'],
    });
    assert.equal(web.status, 201);
    assert.equal(typeof web.body?.client_secret, 'string');
    assert.ok(String(web.body?.client_secret).length >= 43);
    const stored = await server.db('clients').first('metadata').where({ client_id: web.body?.client_id });
    assert.ok(!JSON.stringify(stored).includes(String(web.body?.client_secret)), 'the secret is stored hashed');

    const invalid = await call(server.adminUrl, 'POST', '/admin/clients', { redirect_uris: ['not a url'] });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body?.error, 'invalid_redirect_uri');
    assert.match(String(invalid.body?.error_description), /redirect_uris/);

    const dup = await call(server.adminUrl, 'POST', '/admin/clients', { client_id: 'tv', redirect_uris: ['https://x.example/cb'] });
    assert.equal(dup.status, 409);

    const device = await call(server.adminUrl, 'POST', '/admin/clients', {
      client_id: 'console',
      token_endpoint_auth_method: 'none',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
      response_types: [],
    });
    assert.equal(device.status, 201);
    assert.equal(device.body?.client_secret, undefined, 'public clients get no secret');
    const dc = await deviceAuthorization(server.publicUrl, 'console', 'openid');
    assert.ok(dc.device_code, 'a new client works at once');

    const ids = (await call(server.adminUrl, 'GET', '/admin/clients')).body?.map((c) => c.client_id);
    assert.deepEqual(ids?.sort(), ['console', 'tv', String(web.body?.client_id)].sort());
    assert.ok(!JSON.stringify((await call(server.adminUrl, 'GET', '/admin/clients')).body).includes('sha256:'));

    assert.equal((await call(server.adminUrl, 'DELETE', '/admin/clients/console')).status, 204);
    const gone = await postForm(`${server.publicUrl}/device/auth`, { client_id: 'console', scope: 'openid' });
    assert.equal(gone.status, 401);
    assert.equal(gone.json.error, 'invalid_client');
  });

  it('authenticates a confidential client with the secret it was given, and only that', async () => {
    const c = await call(server.adminUrl, 'POST', '/admin/clients', {
      client_id: 'settop',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
      response_types: [],
    });
    const secret = String(c.body?.client_secret);
    const ok = await postForm(`${server.publicUrl}/device/auth`, { client_id: 'settop', client_secret: secret, scope: 'openid' });
    assert.equal(ok.status, 200);
    const wrong = await postForm(`${server.publicUrl}/device/auth`, { client_id: 'settop', client_secret: `${secret}x`, scope: 'openid' });
    assert.equal(wrong.status, 401);
    const row = (await server.db('clients').first('metadata').where({ client_id: 'settop' })) as { metadata: { client_secret: string } };
    const stored = row.metadata.client_secret;
    assert.match(stored, /^sha256:[0-9a-f]{64}$/);
    const withHash = await postForm(`${server.publicUrl}/device/auth`, { client_id: 'settop', client_secret: stored, scope: 'openid' });
    assert.equal(withHash.status, 401, 'the stored hash is not a credential');
  });

  it('answers malformed, oversized and unknown requests with 4xx JSON', async () => {
    assert.equal((await call(server.adminUrl, 'POST', '/admin/users', undefined, '{"username":')).status, 400);
    assert.equal((await call(server.adminUrl, 'POST', '/admin/users', undefined, '[1,2]')).status, 400);
    const big = await call(server.adminUrl, 'POST', '/admin/clients', undefined, JSON.stringify({ client_name: 'x'.repeat(70_000) }));
    assert.equal(big.status, 413);
    const form = await fetch(`${server.adminUrl}/admin/users`, {
      method: 'POST',
      body: 'username=x',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(form.status, 415);
    assert.equal((await call(server.adminUrl, 'GET', '/admin/nope')).status, 404);
    assert.equal((await call(server.adminUrl, 'PUT', '/admin/users')).status, 405);
  });
});
