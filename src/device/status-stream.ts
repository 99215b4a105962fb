import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import type { Db } from '../storage/db.js';
import { sha256 } from '../storage/hash.js';
import { type Handoff, isFinal, maskedAccountName, readHandoff } from './handoff-state.js';
import { openEventStream } from '../http/event-stream.js';
import type { WaitRegistry } from '../events/waits.js';

/**
 * `status_uri`: a waiting screen follows its handoff without polling. The URL holds a random handle (stored hashed,
 * never the device code). `text/event-stream` gets `retry`, the current state at once, every change after it, and
 * heartbeat comments; the stream ends after `approved`, `denied` or `expired`. `Accept: application/json` gets
 * the current state once. Events carry the state and, once approved, a masked display name: no tokens, codes or
 * personal data.
 */
export function newStatusHandle(): string {
  return randomBytes(32).toString('base64url');
}

export async function assignStatusHandle(db: Db, userCodeHash: string, handle: string): Promise<void> {
  await db('oidc_store')
    .update({ status_hash: sha256(handle) })
    .where({ model: 'DeviceCode', user_code_hash: userCodeHash });
}

export interface StatusDeps {
  config: Config;
  db: Db;
  bus: EventBus;
  waits: WaitRegistry;
}

async function view(db: Db, h: Handoff): Promise<{ state: string; account?: string }> {
  if (h.state !== 'approved' || !h.accountId) return { state: h.state };
  const account = await maskedAccountName(db, h.accountId);
  return account ? { state: h.state, account } : { state: h.state };
}

export function statusRoutes(deps: StatusDeps): Router {
  const { db, bus, waits, config } = deps;
  const router = new Router();

  router.get('/device/status/:handle', async (ctx) => {
    const handle = ctx.params.handle ?? '';
    const first = /^[\w-]{43}$/.test(handle) ? await readHandoff(db, { status_hash: sha256(handle) }) : undefined;
    ctx.set('Cache-Control', 'no-store');
    if (!first) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', error_description: 'no such handoff' };
      return;
    }
    if (ctx.accepts('text/event-stream', 'application/json') !== 'text/event-stream') {
      ctx.body = await view(db, first);
      return;
    }

    openEventStream(ctx, { bus, waits, ...config.realtime }, first.key, async () => {
      const h = await readHandoff(db, { key_hash: first.key });
      if (!h) return undefined;
      return { data: await view(db, h), final: isFinal(h.state), changesAt: h.exp * 1000 + 50 };
    });
  });
  return router;
}
