import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Middleware } from 'koa';
import { HttpError } from '../http/errors.js';
import { safeEqual, sha256 } from '../store/hash.js';
import type { Store } from '../store/index.js';

/**
 * The admin API's credential: `Authorization: Bearer <token>` on every `/admin` route.
 *
 * With `ADMIN_TOKEN` set, that is the only token. Otherwise each instance keeps a generated token in
 * `DATA_DIR/admin-token` (mode 0600, written once, read by the CLI on the same machine) and its SHA-256 in
 * `admin_tokens`, so the database never holds a usable token.
 */
export const TOKEN_FILE = 'admin-token';

export function tokenFile(dataDir: string): string {
  return resolve(dataDir, TOKEN_FILE);
}

/** The token this instance answers to and the CLI on this machine uses; created on first start. */
export async function ensureAdminToken(store: Store, opts: { adminToken?: string | undefined; dataDir: string }): Promise<string> {
  if (opts.adminToken) return opts.adminToken;
  const file = tokenFile(opts.dataDir);
  let token: string | undefined;
  try {
    token = readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    token = undefined;
  }
  if (!token) {
    token = randomBytes(32).toString('base64url');
    mkdirSync(opts.dataDir, { recursive: true });
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  await store.keys.addAdminToken(sha256(token));
  return token;
}

/**
 * The operations paths a load balancer or Prometheus on the host reads without a token, exactly as spelled here:
 * `/HEALTHZ` or `/metrics/` is no operations path, and needs the token like everything else.
 */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Refuses every request on the admin listener without a valid bearer token (401 with `WWW-Authenticate`), except
 * the exact {@link OPEN_PATHS}. The rule names what is open, not what is closed, so no spelling of a path (case,
 * trailing or doubled slashes, encodings) can walk around it, whatever a router makes of it.
 */
export function requireAdminToken(store: Store, adminToken: string | undefined): Middleware {
  return async (ctx, next) => {
    if (OPEN_PATHS.has(ctx.path) && (ctx.method === 'GET' || ctx.method === 'HEAD')) return next();
    const header = ctx.get('authorization');
    const m = /^Bearer ([\x21-\x7e]{16,512})$/.exec(header);
    const refuse = () =>
      new HttpError(401, 'invalid_token', 'the admin API needs Authorization: Bearer <admin token>', {
        headers: { 'WWW-Authenticate': 'Bearer realm="handoff-admin"' },
      });
    if (!m) throw refuse();
    const token = m[1] as string;
    const ok = adminToken ? safeEqual(sha256(token), sha256(adminToken)) : await store.keys.knownAdminToken(sha256(token));
    if (!ok) throw refuse();
    return next();
  };
}
