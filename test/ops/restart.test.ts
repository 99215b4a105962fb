import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { createPostgresDatabase, serverUrl } from '../helpers/db.js';
import { Phone } from '../helpers/phone.js';
import { freePort, spawnHandoff, waitExit } from '../helpers/process.js';
import { DEVICE_GRANT, PASSWORD, TEST_ADMIN_TOKEN, deviceAuthorization, postForm, redeem } from '../helpers/server.js';

async function json(url: string, init?: RequestInit) {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Everything a device and a user did before `kill -9` still holds after a restart on the same data. */
async function crashAndRecover(env: Record<string, string>) {
  const [port, adminPort] = [await freePort(), await freePort()];
  const base = `http://localhost:${port}`;
  const admin = `http://127.0.0.1:${adminPort}`;
  const common = { ...env, PORT: String(port), ADMIN_PORT: String(adminPort), NODE_ENV: 'production', ADMIN_TOKEN: TEST_ADMIN_TOKEN };

  const first = await spawnHandoff(common);
  try {
    const post = (path: string, body: unknown) =>
      json(`${admin}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      });
    assert.equal((await post('/admin/users', { username: 'alice', password: PASSWORD })).status, 201);
    assert.equal(
      (
        await post('/admin/clients', {
          client_id: 'tv',
          token_endpoint_auth_method: 'none',
          grant_types: [DEVICE_GRANT],
          response_types: [],
        })
      ).status,
      201,
    );
    const redeemed = await deviceAuthorization(base, 'tv', 'openid profile');
    await new Phone().approveDevice(redeemed.verification_uri_complete);
    const tokens = await redeem(base, redeemed.device_code);
    assert.equal(tokens.status, 200);
    const approved = await deviceAuthorization(base, 'tv', 'openid profile');
    await new Phone().approveDevice(approved.verification_uri_complete);

    first.child.kill('SIGKILL');
    await waitExit(first.child);

    const second = await spawnHandoff(common);
    try {
      const late = await redeem(base, approved.device_code);
      assert.equal(late.status, 200, `approved before the crash, redeemed after: ${JSON.stringify(late.json)}`);
      const info = await fetch(`${base}/me`, { headers: { authorization: `Bearer ${tokens.json.access_token}` } });
      assert.equal(info.status, 200, 'an access token issued before the crash is still accepted');
      const jwks = (await json(`${base}/jwks`)).body as unknown as JSONWebKeySet;
      const { payload } = await jwtVerify(String(tokens.json.id_token), createLocalJWKSet(jwks), { issuer: base, audience: 'tv' });
      assert.ok(payload.sub);
      const replay = await postForm(`${base}/token`, { grant_type: DEVICE_GRANT, device_code: redeemed.device_code, client_id: 'tv' });
      assert.equal(replay.json.error, 'invalid_grant', 'a code redeemed before the crash stays redeemed');
    } finally {
      second.child.kill('SIGTERM');
      await waitExit(second.child);
    }
  } finally {
    if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill('SIGKILL');
  }
}

describe('durability across kill -9', () => {
  it('on embedded PGlite in DATA_DIR', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'handoff-restart-'));
    try {
      await crashAndRecover({ DATA_DIR: dir });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Registered only where a PostgreSQL server is configured (always in CI); PGlite above runs everywhere.
  const base = serverUrl();
  if (base)
    it('on PostgreSQL', async () => {
      const { url, drop } = await createPostgresDatabase(base);
      try {
        await crashAndRecover({ DATABASE_URL: url });
      } finally {
        await drop();
      }
    });
});
