import type { ServerResponse } from 'node:http';
import { Wait, type WaitRegistry, type Why } from '../events/waits.js';
import { addressKey } from './address.js';
import { flattenSentHead } from './parked.js';

/**
 * A server-sent event stream that follows one subject on the event bus: `retry` first, then `read()`'s view at
 * once and after every wake-up (sent only when it changed), `: keep-alive` comments between, and the end after a
 * final view. On shutdown it sends `retry: 1000` and closes, so the client reconnects (to another instance).
 * Counts against the instance's wait caps: 503 with `Retry-After` when the instance is full, 429 with `Retry-After`
 * when this address or this handoff already holds its share.
 *
 * The stream is written straight to the response, outside Koa: the device status stream is opened by the public
 * lane before Koa runs at all (device/lane.ts), so an open stream costs its socket and one small object, woken by the
 * wait registry (events/waits.ts; bench/README.md: memory per wait). A Koa route hands over its `ctx.res` with
 * `ctx.respond = false`.
 */
export interface Snapshot {
  data: unknown;
  final: boolean;
  /** When the view changes by itself (an expiry), ms since the epoch. */
  changesAt?: number;
}

export interface StreamDeps {
  waits: WaitRegistry;
  heartbeatSeconds: number;
  retryMilliseconds: number;
}

/** Reads a subject's view (by its bus key); undefined ends the stream. */
export type ReadView = (key: string) => Promise<Snapshot | undefined>;

export function openEventStream(
  x: { res: ServerResponse; ip: string; headers?: Record<string, string> },
  deps: StreamDeps,
  key: string,
  read: ReadView,
  /** The view just read by the caller, sent first without reading it again. */
  first?: Snapshot,
): void {
  const res = x.res;
  const stream = new EventStream(res, deps, key, addressKey(x.ip), read);
  const refused = deps.waits.acquire(stream);
  if (refused) {
    const full = refused === 'instance';
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
  // The response closes when the client hangs up (or when we end it): the slot is given back at once.
  (res as Streaming)[STREAM] = stream;
  res.on('close', onClose);
  res.on('error', onClose);
  res.writeHead(200, {
    ...x.headers,
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Accel-Buffering': 'no',
  });
  res.write(`retry: ${deps.retryMilliseconds}\n\n`);
  flattenSentHead(res);
  if (first) stream.show(first);
  else stream.wake('event');
}

const STREAM = Symbol('event stream');
type Streaming = ServerResponse & { [STREAM]?: EventStream };

function onClose(this: Streaming): void {
  this[STREAM]?.stop();
}

/**
 * One open stream: its last view and event id, and whether a read is under way. Woken by the registry on an event
 * (read again, send if changed), on time (a heartbeat, or the moment the view changes by itself) and on shutdown.
 */
class EventStream extends Wait {
  #lastText = '';
  #id = 0;
  #reading = false;
  #again = false;
  #closed = false;
  #heartbeatAt = 0;
  #changesAt = Number.POSITIVE_INFINITY;

  readonly res: ServerResponse;
  readonly deps: StreamDeps;
  readonly read: ReadView;

  constructor(res: ServerResponse, deps: StreamDeps, key: string, address: string, read: ReadView) {
    super(key, 'stream', address);
    this.res = res;
    this.deps = deps;
    this.read = read;
  }

  wake(why: Why): void {
    if (this.#closed) return;
    if (why === 'stop') {
      this.res.write('retry: 1000\n\n');
      this.stop();
    } else if (why === 'event' || Date.now() < this.#heartbeatAt) this.#read();
    else {
      // A heartbeat only: changes arrive as events (and every stream re-reads when the bus reconnects).
      this.res.write(': keep-alive\n\n');
      this.#next();
    }
  }

  /** Sends a view (when it changed) and waits for the next event, heartbeat or change by itself; ends after a final one. */
  show(snap: Snapshot): void {
    if (this.#closed) return;
    const text = JSON.stringify(snap.data);
    if (text !== this.#lastText) {
      this.#id += 1;
      this.res.write(`id: ${this.#id}\ndata: ${text}\n\n`);
      this.#lastText = text;
    }
    if (snap.final) {
      this.stop();
      return;
    }
    this.#changesAt = snap.changesAt ?? Number.POSITIVE_INFINITY;
    this.#next();
  }

  #next(): void {
    const now = Date.now();
    if (this.#heartbeatAt <= now) this.#heartbeatAt = now + this.deps.heartbeatSeconds * 1000;
    this.deps.waits.schedule(this, Math.min(this.#heartbeatAt, this.#changesAt));
  }

  stop(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.deps.waits.release(this);
    if (!this.res.writableEnded) this.res.end();
  }

  #read(): void {
    if (this.#reading) {
      this.#again = true;
      return;
    }
    this.#reading = true;
    this.read(this.key).then(
      (snap) => {
        this.#reading = false;
        if (!snap) return this.stop();
        this.show(snap);
        if (this.#again && !this.#closed) {
          this.#again = false;
          this.#read();
        }
      },
      // The database went away mid-stream: close; the client reconnects after `retry`.
      () => this.stop(),
    );
  }
}
