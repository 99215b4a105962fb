import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import Router from '@koa/router';
import { findUserById } from '../accounts/users.js';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import type { Db } from '../storage/db.js';
import { sha256 } from '../storage/hash.js';
import { type Handoff, isFinal, maskName, readHandoff } from './handoff-state.js';
import { type WaitRegistry, Wakeup } from './waits.js';

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
  const user = await findUserById(db, h.accountId);
  const name = user?.name ?? user?.username;
  return name ? { state: h.state, account: maskName(name) } : { state: h.state };
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

    const signal = new Wakeup();
    let closed = false;
    const release = waits.acquire(signal.wake);
    if (!release) {
      ctx.status = 503;
      ctx.set('Retry-After', '5');
      ctx.body = { error: 'temporarily_unavailable', error_description: 'too many open streams; try again shortly' };
      return;
    }
    const unsubscribe = bus.subscribe(first.key, signal.wake);
    const stream = new PassThrough();
    const stop = () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      release();
      signal.wake();
      stream.end();
    };
    ctx.req.on('close', stop);
    stream.on('error', stop);

    ctx.status = 200;
    ctx.type = 'text/event-stream';
    ctx.set('X-Accel-Buffering', 'no');
    ctx.body = stream;

    let id = 0;
    const send = (data: unknown) => {
      id += 1;
      stream.write(`id: ${id}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    stream.write(`retry: ${config.realtime.retryMilliseconds}\n\n`);

    // Runs after this handler returns; Koa streams what it writes.
    void (async () => {
      let current: Handoff | undefined = first;
      let sent = '';
      try {
        while (!closed && current) {
          const shown = await view(db, current);
          if (shown.state !== sent) {
            send(shown);
            sent = shown.state;
          }
          if (isFinal(current.state)) break;
          const heartbeat = Date.now() + config.realtime.heartbeatSeconds * 1000;
          const deadline = Math.min(heartbeat, current.exp * 1000 + 50);
          await signal.wait(deadline);
          if (closed) break;
          if (waits.stopping) {
            // Shutting down: tell the client to come back soon (to another instance), then close.
            stream.write('retry: 1000\n\n');
            break;
          }
          if (Date.now() >= heartbeat) stream.write(': keep-alive\n\n');
          current = await readHandoff(db, { key_hash: first.key });
        }
      } catch {
        // The database went away mid-stream: close, and the client reconnects after `retry`.
      } finally {
        stop();
      }
    })();
  });
  return router;
}
