import { loadConfig } from '../../src/config/load.js';
import type { Config, ConfigOverrides } from '../../src/config/schema.js';
import { createUser } from '../../src/accounts/users.js';
import { createClient } from '../../src/admin/clients.js';
import { startHandoff, type Handoff } from '../../src/server.js';
import type { AppPlugin } from '../../src/app.js';
import type { Logger } from '../../src/log.js';
import type { Db } from '../../src/store/db.js';
import { resetDb, sharedDb } from './db.js';

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const PASSWORD = 'correct horse battery staple';
/** The admin API token of test servers (ADMIN_TOKEN), so no token file is written during tests. */
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef0123456789';

/** A Handoff on free ports over the shared, freshly emptied database, with a user `alice` and a device client `tv`. */
export async function startTestServer(
  overrides: ConfigOverrides = {},
  database?: Db,
  log?: Logger,
  plugins: AppPlugin[] = [],
): Promise<Handoff & { config: Config; userId: string }> {
  const db = database ?? (await sharedDb());
  await resetDb(db);
  const config = loadConfig({ NODE_ENV: 'test' }, { port: 0, adminPort: 0, adminToken: TEST_ADMIN_TOKEN, ...overrides });
  const handoff = await startHandoff(config, { db, plugins, ...(log ? { log } : {}) });
  const user = await createUser(
    handoff.store,
    { username: 'alice', password: PASSWORD, name: 'Alice Example', email: 'alice@example.com' },
    config.scrypt,
  );
  await createClient(handoff.store, handoff.provider(), {
    client_id: 'tv',
    client_name: 'Living Room TV',
    token_endpoint_auth_method: 'none',
    grant_types: [DEVICE_GRANT, 'refresh_token'],
    response_types: [],
  });
  return Object.assign(handoff, { config, userId: user.id });
}

/** POSTs a form and returns status and parsed JSON. */
export async function postForm(url: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', body: new URLSearchParams(fields), headers });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json, headers: res.headers };
}

export async function deviceAuthorization(base: string, clientId = 'tv', scope = 'openid profile email offline_access') {
  const r = await postForm(`${base}/device/auth`, { client_id: clientId, scope });
  if (r.status !== 200) throw new Error(`device authorization failed: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json as {
    device_code: string;
    user_code: string;
    verification_uri: string;
    verification_uri_complete: string;
    expires_in: number;
  };
}

export function redeem(base: string, deviceCode: string, clientId = 'tv') {
  return postForm(`${base}/token`, { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: clientId });
}

/** A token request held with `Prefer: wait=N` (RFC 7240). */
export function heldRedeem(base: string, deviceCode: string, wait: number | string, clientId = 'tv') {
  return postForm(`${base}/token`, { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: clientId }, { prefer: `wait=${wait}` });
}

/** A request to a test server's admin API with its bearer token (JSON body when given). */
export function adminFetch(server: { adminUrl: string; adminToken: string }, method: string, path: string, body?: unknown, raw?: string) {
  const headers: Record<string, string> = { authorization: `Bearer ${server.adminToken}` };
  if (body !== undefined || raw !== undefined || method === 'POST') headers['content-type'] = 'application/json';
  return fetch(`${server.adminUrl}${path}`, {
    method,
    headers,
    ...(raw !== undefined ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : method === 'POST' ? { body: '{}' } : {}),
  });
}
