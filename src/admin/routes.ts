import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import { createUser, parseNewUser, parseUserChange, updateUser } from '../accounts/users.js';
import type { Config } from '../config/schema.js';
import { readJsonObject } from '../http/body.js';
import { badRequest, HttpError, notFound } from '../http/errors.js';
import { isStorableText } from '../store/hash.js';
import type { Store } from '../store/index.js';
import { migrateLatest } from '../store/migrate.js';
import { audit } from '../ops/audit.js';
import { createClient, listClients, rotateClientSecret, updateClient } from './clients.js';
import { identityProviderAdmin } from './identity-providers.js';
import { parseRegistrationToken, registrationTokenAdmin } from './registration-tokens.js';
import type { Upstreams } from '../accounts/upstream.js';

export interface AdminDeps {
  config: Config;
  store: Store;
  provider: () => Provider;
  /** Rotates signing keys and makes this instance sign with the new ones. */
  rotateKeys: () => Promise<{ active: string[]; retired: string[] }>;
  /** Adds a cookie key that signs from now on; older ones keep verifying for a grace period (none with `now`). */
  rotateCookieKeys: (opts: { now: boolean }) => Promise<{ keys: number; graceSeconds: number }>;
  /** Upstream OpenID Providers (accounts/upstream.ts). */
  upstreams: Upstreams;
  issuer: string;
}

/** One query parameter: absent, or a single printable string (`?a=1&a=2` and NUL bytes are refused). */
function queryText(ctx: Context, name: string, max = 200): string | undefined {
  const v = ctx.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length > max || !isStorableText(v)) throw badRequest(`${name} must be a single short value`, name);
  return v;
}

function queryInt(ctx: Context, name: string, min: number, max: number): number | undefined {
  const v = queryText(ctx, name, 20);
  if (v === undefined) return undefined;
  if (!/^\d{1,16}$/.test(v) || Number(v) < min || Number(v) > max)
    throw badRequest(`${name} must be an integer from ${min} to ${max}`, name);
  return Number(v);
}

/** Every admin change is a JSON request, even one without a body: a web form (or `fetch` without a CORS preflight)
 * cannot send one, so no page in a browser on this machine can reach these routes. */
const jsonOnly: Middleware = (ctx, next) => {
  if (!ctx.is('application/json')) throw new HttpError(415, 'invalid_request', 'Content-Type must be application/json');
  return next();
};

/** The admin API: JSON in, JSON out, on ADMIN_PORT (127.0.0.1 by default); every change is audited. */
export function adminRoutes(deps: AdminDeps): Router {
  const { store, config } = deps;
  // Paths match exactly as written (case and trailing slash included), as the token rule (token.ts) reads them.
  const router = new Router({ prefix: '/admin', sensitive: true, strict: true });
  const record = (ctx: Context, e: Omit<Parameters<typeof audit>[1], 'actorIp'>) => audit(store, { ...e, actorIp: ctx.ip });

  router.post('/users', jsonOnly, async (ctx) => {
    const input = parseNewUser(await readJsonObject(ctx, config.bodyLimitBytes));
    const user = await createUser(store, input, config.scrypt);
    await record(ctx, { action: 'admin.user.created', accountId: user.id, detail: { username: user.username } });
    ctx.status = 201;
    ctx.body = user;
  });
  router.get('/users', async (ctx) => {
    ctx.body = await store.users.list();
  });
  router.patch('/users/:id', jsonOnly, async (ctx) => {
    const change = parseUserChange(await readJsonObject(ctx, config.bodyLimitBytes));
    const id = ctx.params.id ?? '';
    const user = await updateUser(store, id, change, config.scrypt);
    if (!user) throw notFound('no such user');
    // A password reset ends every session of the account: whoever held one must sign in with the new password.
    const ended = change.password !== undefined ? await store.sessions.endAll(id) : 0;
    await record(ctx, {
      action: 'admin.user.updated',
      accountId: id,
      detail: { fields: Object.keys(change), ...(change.password !== undefined ? { sessionsEnded: ended } : {}) },
    });
    ctx.body = user;
  });
  router.get('/users/:id/sessions', async (ctx) => {
    const id = ctx.params.id ?? '';
    if (!(await store.users.byId(id))) throw notFound('no such user');
    ctx.body = await store.sessions.list(id, 1000);
  });
  router.post('/users/:id/sessions/end', jsonOnly, async (ctx) => {
    const id = ctx.params.id ?? '';
    if (!(await store.users.byId(id))) throw notFound('no such user');
    const ended = await store.sessions.endAll(id);
    await record(ctx, { action: 'admin.user.sessions_ended', accountId: id, detail: { ended } });
    ctx.body = { ended };
  });
  router.delete('/users/:id', async (ctx) => {
    const id = ctx.params.id ?? '';
    if (!(await store.users.delete(id))) throw notFound('no such user');
    await record(ctx, { action: 'admin.user.deleted', accountId: id });
    ctx.status = 204;
  });

  router.post('/clients', jsonOnly, async (ctx) => {
    const input = await readJsonObject(ctx, config.bodyLimitBytes);
    const client = await createClient(store, deps.provider(), input);
    await record(ctx, { action: 'admin.client.created', clientId: String(client.client_id) });
    ctx.status = 201;
    ctx.body = client;
  });
  router.get('/clients', async (ctx) => {
    ctx.body = await listClients(store);
  });
  router.patch('/clients/:id', jsonOnly, async (ctx) => {
    const id = ctx.params.id ?? '';
    const change = await readJsonObject(ctx, config.bodyLimitBytes);
    const client = await updateClient(store, deps.provider(), id, change);
    await record(ctx, { action: 'admin.client.updated', clientId: id, detail: { fields: Object.keys(change) } });
    ctx.body = client;
  });
  router.post('/clients/:id/rotate-secret', jsonOnly, async (ctx) => {
    const id = ctx.params.id ?? '';
    const client = await rotateClientSecret(store, id);
    await record(ctx, { action: 'admin.client.secret_rotated', clientId: id });
    ctx.body = client;
  });
  router.delete('/clients/:id', async (ctx) => {
    const id = ctx.params.id ?? '';
    if (!(await store.clients.delete(id))) throw notFound('no such client');
    await record(ctx, { action: 'admin.client.deleted', clientId: id });
    ctx.status = 204;
  });

  // Initial access tokens for client self-registration (RFC 7591): the value once, in the answer to its creation.
  const registrationTokens = registrationTokenAdmin(store, deps.provider);
  router.post('/registration-tokens', jsonOnly, async (ctx) => {
    const made = await registrationTokens.create(parseRegistrationToken(await readJsonObject(ctx, config.bodyLimitBytes)));
    await record(ctx, { action: 'admin.registration_token.created', detail: { id: made.id, label: made.label, policy: made.policy } });
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = made;
  });
  router.get('/registration-tokens', async (ctx) => {
    ctx.body = await registrationTokens.list();
  });
  router.delete('/registration-tokens/:id', async (ctx) => {
    const id = ctx.params.id ?? '';
    await registrationTokens.revoke(id);
    await record(ctx, { action: 'admin.registration_token.revoked', detail: { id } });
    ctx.status = 204;
  });

  // Upstream OpenID Providers: the answer gives the redirect URI to register upstream, never the client secret.
  const upstreamAdmin = identityProviderAdmin(store, deps.upstreams, deps.issuer);
  router.post('/identity-providers', jsonOnly, async (ctx) => {
    const made = await upstreamAdmin.create(await readJsonObject(ctx, config.bodyLimitBytes));
    await record(ctx, { action: 'admin.identity_provider.created', detail: { id: made.id, issuer: made.issuer } });
    ctx.status = 201;
    ctx.body = made;
  });
  router.get('/identity-providers', async (ctx) => {
    ctx.body = await upstreamAdmin.list();
  });
  router.patch('/identity-providers/:id', jsonOnly, async (ctx) => {
    const change = await readJsonObject(ctx, config.bodyLimitBytes);
    const updated = await upstreamAdmin.update(ctx.params.id ?? '', change);
    await record(ctx, { action: 'admin.identity_provider.updated', detail: { id: updated.id, fields: Object.keys(change) } });
    ctx.body = updated;
  });
  router.post('/identity-providers/:id/disable', jsonOnly, async (ctx) => {
    const updated = await upstreamAdmin.update(ctx.params.id ?? '', { enabled: false });
    await record(ctx, { action: 'admin.identity_provider.updated', detail: { id: updated.id, fields: ['enabled'] } });
    ctx.body = updated;
  });
  router.delete('/identity-providers/:id', async (ctx) => {
    const id = ctx.params.id ?? '';
    await upstreamAdmin.delete(id);
    await record(ctx, { action: 'admin.identity_provider.deleted', detail: { id } });
    ctx.status = 204;
  });

  router.post('/keys/rotate', jsonOnly, async (ctx) => {
    const rotated = await deps.rotateKeys();
    await record(ctx, { action: 'admin.keys.rotated', detail: rotated });
    ctx.body = rotated;
  });
  // `{"now": true}`: a key leaked. The old keys stop verifying at once: everyone is signed out, every instance.
  router.post('/cookie-keys/rotate', jsonOnly, async (ctx) => {
    const body = await readJsonObject(ctx, config.bodyLimitBytes, { emptyIsObject: true });
    if (body.now !== undefined && typeof body.now !== 'boolean') throw badRequest('now must be true or false', 'now');
    const rotated = await deps.rotateCookieKeys({ now: body.now === true });
    await record(ctx, { action: 'admin.cookie_keys.rotated', detail: { ...rotated, now: body.now === true } });
    ctx.body = rotated;
  });
  router.get('/audit', async (ctx) => {
    const limit = queryInt(ctx, 'limit', 1, 1000) ?? 100;
    const before = queryInt(ctx, 'before', 1, Number.MAX_SAFE_INTEGER);
    const accountId = queryText(ctx, 'account');
    const action = queryText(ctx, 'type', 64);
    ctx.body = await store.audit.list({ limit, before, accountId, action });
  });
  router.post('/db/migrate', jsonOnly, async (ctx) => {
    const applied = await migrateLatest(store.db);
    await record(ctx, { action: 'admin.db.migrated', detail: { applied } });
    ctx.body = { applied };
  });
  return router;
}
