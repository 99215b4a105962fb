import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { sha256 } from '../../src/store/hash.js';
import { endSession } from '../helpers/fixtures.js';
import { Phone } from '../helpers/phone.js';
import { rawRequest } from '../helpers/raw-http.js';
import { adminFetch, DEVICE_GRANT, deviceAuthorization, postForm, startTestServer } from '../helpers/server.js';

const HOSTILE = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "' OR 1=1 --",
  '\u0000\u202e',
  '%00',
  'a'.repeat(5000),
  '../../etc/passwd',
  '{{7*7}}',
];
const MARKUP = /<script>alert\(1\)<\/script>|<img src=x onerror/;

describe('hostile input', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  async function send(path: string, init: RequestInit & { accept?: string } = {}) {
    const res = await fetch(`${server.publicUrl}${path}`, {
      ...init,
      redirect: 'manual',
      headers: { accept: init.accept ?? 'text/html', ...(init.headers ?? {}) },
    });
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  }

  it('never answers 5xx or reflects markup, on any public endpoint', async () => {
    const endpoints: Array<[string, string]> = [
      ['POST', '/token'],
      ['POST', '/device/auth'],
      ['POST', '/device'],
      ['GET', '/device'],
      ['GET', '/auth'],
      ['POST', '/token/introspection'],
      ['POST', '/token/revocation'],
      ['GET', '/me'],
      ['GET', '/interaction/abc'],
      ['POST', '/interaction/abc/login'],
      ['POST', '/interaction/abc/confirm'],
      ['GET', '/session/end'],
    ];
    for (const [method, path] of endpoints) {
      for (const value of HOSTILE) {
        const fields = {
          client_id: value,
          user_code: value,
          grant_type: value,
          device_code: value,
          scope: value,
          redirect_uri: value,
          xsrf: value,
        };
        const r =
          method === 'GET'
            ? await send(`${path}?${new URLSearchParams(fields)}`)
            : await send(path, {
                method,
                body: new URLSearchParams(fields),
                headers: { 'content-type': 'application/x-www-form-urlencoded' },
              });
        const label = `${method} ${path} with ${JSON.stringify(value).slice(0, 40)} → ${r.status}`;
        // Code entry sends a bad link or a session-less post back to the clean entry page; the rest is a 4xx.
        if (r.status === 303) assert.equal(`${path} ${r.location}`, '/device /device', label);
        else assert.ok(r.status >= 400 && r.status < 500, label);
        assert.doesNotMatch(r.text, MARKUP, `${method} ${path} reflected markup`);
      }
    }
    assert.equal((await send('/.well-known/openid-configuration')).status, 200, 'still serving');
  });

  it('refuses duplicated parameters, wrong content types and oversized bodies with RFC errors', async () => {
    const dup = await fetch(`${server.publicUrl}/token`, {
      method: 'POST',
      body: 'grant_type=a&grant_type=b&client_id=tv',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(dup.status, 400);
    assert.equal(((await dup.json()) as { error: string }).error, 'invalid_request');

    const json = await fetch(`${server.publicUrl}/token`, {
      method: 'POST',
      body: '{"grant_type":"x"}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(json.status, 400);

    const big = await fetch(`${server.publicUrl}/token`, {
      method: 'POST',
      body: `client_id=tv&x=${'a'.repeat(100_000)}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(big.status, 413);
    assert.equal((await send('/nope')).status, 404);
  });

  it('a body past the limit sent chunked is refused 413; a client that leaves mid-body leaves the server serving', async () => {
    const chunked = await rawRequest(`${server.publicUrl}/device/auth`, {
      method: 'POST',
      headers: { host: new URL(server.publicUrl).host, 'content-type': 'application/x-www-form-urlencoded' },
      body: `client_id=tv&scope=openid&x=${'a'.repeat(100_000)}`,
      chunked: true,
    });
    assert.equal(chunked.status, 413);
    // Headers, a Content-Length of 64 and half the body, then the connection closes: nothing to answer, nothing left.
    const before = await server.db('oidc_store').where({ model: 'DeviceCode' }).count<{ count: string }[]>({ count: '*' });
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(new URL(server.publicUrl).port), '127.0.0.1', () => {
        socket.write(
          `POST /device/auth HTTP/1.1\r\nHost: ${new URL(server.publicUrl).host}\r\n` +
            'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 64\r\n\r\nclient_id=tv&sc',
          () => setTimeout(() => socket.destroy(), 50),
        );
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    const ok = await postForm(`${server.publicUrl}/device/auth`, { client_id: 'tv', scope: 'openid' });
    assert.equal(ok.status, 200, 'the next request is served');
    const afterCount = await server.db('oidc_store').where({ model: 'DeviceCode' }).count<{ count: string }[]>({ count: '*' });
    assert.equal(Number(afterCount[0]?.count), Number(before[0]?.count) + 1, 'only the complete request made a code');
  });

  it('a decision from a browser whose session ended goes back to the entry page; nothing is approved', async () => {
    const dc = await deviceAuthorization(server.publicUrl);
    const phone = new Phone();
    const confirm = await phone.request(dc.verification_uri_complete);
    assert.match(confirm.html, /name="confirm"/);
    const session = phone.cookies.get('_session');
    assert.ok(session, 'the phone holds a session cookie');
    await endSession(server.db, session);
    const r = await phone.submit(confirm, { confirm: 'yes' });
    assert.ok(r.status < 500, `answered ${r.status}`);
    assert.match(r.html, /name="user_code"/, 'the code entry page, to start again');
    const again = await phone.submit(r, { user_code: dc.user_code });
    assert.match(again.html, /name="confirm"/, 'and from it the same code can be entered again');
    const poll = await postForm(`${server.publicUrl}/token`, { grant_type: DEVICE_GRANT, device_code: dc.device_code, client_id: 'tv' });
    assert.equal(poll.json.error, 'authorization_pending');
  });

  it('an unknown device code is invalid_grant; a stored hash used as a device code is refused', async () => {
    const unknown = await postForm(`${server.publicUrl}/token`, { grant_type: DEVICE_GRANT, device_code: 'x'.repeat(43), client_id: 'tv' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.error, 'invalid_grant');

    const dc = await deviceAuthorization(server.publicUrl);
    await new Phone().approveDevice(dc.verification_uri_complete);
    const handle = `~${sha256(dc.device_code)}`;
    const viaHash = await postForm(`${server.publicUrl}/token`, { grant_type: DEVICE_GRANT, device_code: handle, client_id: 'tv' });
    assert.equal(viaHash.status, 400);
    assert.equal(viaHash.json.error, 'invalid_grant');
    const real = await postForm(`${server.publicUrl}/token`, { grant_type: DEVICE_GRANT, device_code: dc.device_code, client_id: 'tv' });
    assert.equal(real.status, 200, 'the real code was not disturbed');
  });

  it('keeps what is stored intact after a storm of bad requests', async () => {
    const before = await server.db('users').select('id', 'username', 'password_hash').orderBy('id');
    await Promise.all(HOSTILE.map((v) => adminFetch(server, 'POST', '/admin/users', { username: v, password: v })));
    assert.deepEqual(await server.db('users').select('id', 'username', 'password_hash').orderBy('id'), before);
  });
});
