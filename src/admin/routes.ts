import Router from '@koa/router';
import type Provider from 'oidc-provider';
import { createUser, deleteUser, listUsers, parseNewUser } from '../accounts/users.js';
import type { Config } from '../config/schema.js';
import { readJsonObject } from '../http/body.js';
import { notFound } from '../http/errors.js';
import type { Db } from '../storage/db.js';
import { migrateLatest } from '../storage/migrate.js';
import { listAudit } from '../ops/audit.js';
import { createClient, deleteClient, listClients } from './clients.js';

export interface AdminDeps {
  config: Config;
  db: Db;
  provider: () => Provider;
  /** Rotates signing keys and makes this instance sign with the new ones. */
  rotateKeys: () => Promise<{ active: string[]; retired: string[] }>;
}

/** The admin API: JSON in, JSON out, on ADMIN_PORT (127.0.0.1 by default). */
export function adminRoutes(deps: AdminDeps): Router {
  const { db, config } = deps;
  const router = new Router({ prefix: '/admin' });

  router.post('/users', async (ctx) => {
    const input = parseNewUser(await readJsonObject(ctx, config.bodyLimitBytes));
    ctx.status = 201;
    ctx.body = await createUser(db, input, config.scrypt);
  });
  router.get('/users', async (ctx) => {
    ctx.body = await listUsers(db);
  });
  router.delete('/users/:id', async (ctx) => {
    if (!(await deleteUser(db, ctx.params.id ?? ''))) throw notFound('no such user');
    ctx.status = 204;
  });

  router.post('/clients', async (ctx) => {
    const input = await readJsonObject(ctx, config.bodyLimitBytes);
    ctx.status = 201;
    ctx.body = await createClient(db, deps.provider(), input);
  });
  router.get('/clients', async (ctx) => {
    ctx.body = await listClients(db);
  });
  router.delete('/clients/:id', async (ctx) => {
    if (!(await deleteClient(db, ctx.params.id ?? ''))) throw notFound('no such client');
    ctx.status = 204;
  });

  router.post('/keys/rotate', async (ctx) => {
    ctx.body = await deps.rotateKeys();
  });
  router.get('/audit', async (ctx) => {
    const limit = Math.min(Math.max(Number(ctx.query.limit ?? 100) || 100, 1), 1000);
    const before = Number(ctx.query.before) || undefined;
    const accountId = typeof ctx.query.account === 'string' ? ctx.query.account : undefined;
    ctx.body = await listAudit(db, { limit, before, accountId });
  });
  router.post('/db/migrate', async (ctx) => {
    ctx.body = { applied: await migrateLatest(db) };
  });
  return router;
}
