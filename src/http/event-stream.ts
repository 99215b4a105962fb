import { PassThrough } from 'node:stream';
import type { Context } from 'koa';
import type { EventBus } from '../events/bus.js';
import { type WaitRegistry, Wakeup } from '../events/waits.js';
import { addressKey } from './address.js';

/**
 * A server-sent event stream that follows one subject on the event bus: `retry` first, then `read()`'s view at
 * once and after every wake-up (sent only when it changed), `: keep-alive` comments between, and the end after a
 * final view. On shutdown it sends `retry: 1000` and closes, so the client reconnects (to another instance).
 * Counts against the instance's wait caps: 503 with `Retry-After` when the instance is full, 429 with `Retry-After`
 * when this address or this handoff already holds its share.
 */
export interface Snapshot {
  data: unknown;
  final: boolean;
  /** When the view changes by itself (an expiry), ms since the epoch. */
  changesAt?: number;
}

export interface StreamDeps {
  bus: EventBus;
  waits: WaitRegistry;
  heartbeatSeconds: number;
  retryMilliseconds: number;
}

export function openEventStream(ctx: Context, deps: StreamDeps, key: string, read: () => Promise<Snapshot | undefined>): void {
  const signal = new Wakeup();
  const ticket = deps.waits.acquire({ kind: 'stream', address: addressKey(ctx.ip), handoff: key, onShutdown: signal.wake });
  if (typeof ticket === 'string') {
    const full = ticket === 'instance';
    ctx.status = full ? 503 : 429;
    ctx.set('Retry-After', full ? '5' : '10');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = full
      ? { error: 'temporarily_unavailable', error_description: 'too many open streams; try again shortly' }
      : { error: 'slow_down', error_description: 'too many open streams from this address or for this code; try again shortly' };
    return;
  }
  const release = () => ticket.release();
  const unsubscribe = deps.bus.subscribe(key, signal.wake);
  const stream = new PassThrough();
  let closed = false;
  const stop = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    release();
    signal.wake();
    stream.end();
  };
  // The response closes when the client hangs up (or when we end it): the slot is given back at once.
  ctx.res.once('close', stop);
  stream.on('error', stop);
  ctx.status = 200;
  ctx.type = 'text/event-stream';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Accel-Buffering', 'no');
  ctx.body = stream;
  stream.write(`retry: ${deps.retryMilliseconds}\n\n`);

  let id = 0;
  void (async () => {
    let last = '';
    try {
      while (!closed) {
        const snap = await read();
        if (!snap) break;
        const text = JSON.stringify(snap.data);
        if (text !== last) {
          id += 1;
          stream.write(`id: ${id}\ndata: ${text}\n\n`);
          last = text;
        }
        if (snap.final) break;
        const heartbeat = Date.now() + deps.heartbeatSeconds * 1000;
        await signal.wait(Math.min(heartbeat, snap.changesAt ?? heartbeat));
        if (closed) break;
        if (deps.waits.stopping) {
          stream.write('retry: 1000\n\n');
          break;
        }
        if (Date.now() >= heartbeat) stream.write(': keep-alive\n\n');
      }
    } catch {
      // The database went away mid-stream: close; the client reconnects after `retry`.
    } finally {
      stop();
    }
  })();
}
