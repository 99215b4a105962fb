import Router from '@koa/router';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/index.js';
import { pendingMigrations } from '../store/migrate.js';
import type { Metrics } from './metrics.js';

/**
 * Operator endpoints on the admin port: `/healthz` (the process is alive), `/readyz` (the database answers, every
 * migration is applied, the event bus is listening: 200, otherwise 503 naming what is not), `/metrics`.
 */
export function opsRoutes(deps: { store: Store; bus: EventBus; metrics: Metrics }): Router {
  const router = new Router({ sensitive: true, strict: true });
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const checks: Record<string, boolean> = { database: false, migrations: false, events: deps.bus.listening };
    try {
      await deps.store.ping();
      checks.database = true;
      checks.migrations = (await pendingMigrations(deps.store.db)).length === 0;
    } catch {
      // reported below
    }
    const ready = Object.values(checks).every(Boolean);
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'not ready', checks };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });
  return router;
}
