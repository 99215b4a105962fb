import type { ServerResponse } from 'node:http';
import type { EventBus } from '../events/bus.js';
import { type WaitRegistry, Wakeup } from '../events/waits.js';
import { addressKey } from './address.js';

/**
 * A server-sent event stream that follows one subject on the event bus: `retry` first, then `read()`'s view at
 * once and after every wake-up (sent only when it changed), `: keep-alive` comments between, and the end after a
 * final view. On shutdown it sends `retry: 1000` and closes, so the client reconnects (to another instance).
 * Counts against the instance's wait caps: 503 with `Retry-After` when the instance is full, 429 with `Retry-After`
 * when this address or this handoff already holds its share.
 *
 * The stream is written straight to the response, outside Koa: the device status stream is opened by the public
 * lane before Koa runs at all (device/lane.ts), so an open stream costs its socket, one subscription and one timer
 * (bench/README.md: memory per wait). A Koa route hands over its `ctx.res` with `ctx.respond = false`.
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

export function openEventStream(
  x: { res: ServerResponse; ip: string; headers?: Record<string, string> },
  deps: StreamDeps,
  key: string,
  read: () => Promise<Snapshot | undefined>,
): void {
  const res = x.res;
  const signal = new Wakeup();
  const ticket = deps.waits.acquire({ kind: 'stream', address: addressKey(x.ip), handoff: key, onShutdown: signal.wake });
  if (typeof ticket === 'string') {
    const full = ticket === 'instance';
    const body = JSON.stringify(
      full
        ? { error: 'temporarily_unavailable', error_description: 'too many open streams; try again shortly' }
        : { error: 'slow_down', error_description: 'too many open streams from this address or for this code; try again shortly' },
    );
    res.writeHead(full ? 503 : 429, {
      ...x.headers,
      'Retry-After': full ? '5' : '10',
      'Cache-Control': 'no-store',
      'Content-Type': 'application/json; charset=utf-8',
    });
    res.end(body);
    return;
  }
  const unsubscribe = deps.bus.subscribe(key, signal.wake);
  let closed = false;
  const stop = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    ticket.release();
    signal.wake();
    if (!res.writableEnded) res.end();
  };
  // The response closes when the client hangs up (or when we end it): the slot is given back at once.
  res.once('close', stop);
  res.on('error', stop);
  res.writeHead(200, {
    ...x.headers,
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Accel-Buffering': 'no',
  });
  res.write(`retry: ${deps.retryMilliseconds}\n\n`);

  void follow(res, deps, signal, read, () => closed, stop);
}

async function follow(
  res: { write(chunk: string): unknown },
  deps: StreamDeps,
  signal: Wakeup,
  read: () => Promise<Snapshot | undefined>,
  closed: () => boolean,
  stop: () => void,
): Promise<void> {
  let id = 0;
  let last = '';
  try {
    while (!closed()) {
      const snap = await read();
      if (!snap) break;
      const text = JSON.stringify(snap.data);
      if (text !== last) {
        id += 1;
        res.write(`id: ${id}\ndata: ${text}\n\n`);
        last = text;
      }
      if (snap.final) break;
      const heartbeat = Date.now() + deps.heartbeatSeconds * 1000;
      await signal.wait(Math.min(heartbeat, snap.changesAt ?? heartbeat));
      if (closed()) break;
      if (deps.waits.stopping) {
        res.write('retry: 1000\n\n');
        break;
      }
      if (Date.now() >= heartbeat) res.write(': keep-alive\n\n');
    }
  } catch {
    // The database went away mid-stream: close; the client reconnects after `retry`.
  } finally {
    stop();
  }
}
