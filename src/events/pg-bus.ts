import pg from 'pg';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import { type EventBus, Subscribers } from './bus.js';

const CHANNEL = 'handoff_events';
const KEY = /^[0-9a-f]{64}$/;

/**
 * Many instances on one PostgreSQL: NOTIFY on the pool after a change is committed, LISTEN on one dedicated
 * connection. Local subscribers are woken at once as well, so the local path never waits for the round trip.
 *
 * The listening connection reconnects by itself (backoff 100 ms doubling to 5 s). After a reconnect every local
 * subscriber is woken to re-read, since notifications sent while it was down are lost.
 */
export class PgEventBus implements EventBus {
  readonly #subs = new Subscribers();
  readonly #store: Store;
  readonly #connection: string;
  readonly #log: Logger;
  #client: pg.Client | undefined;
  #closed = false;
  #listening = false;
  #backoff = 100;
  #timer: NodeJS.Timeout | undefined;

  constructor(store: Store, connectionString: string, log: Logger) {
    this.#store = store;
    this.#connection = connectionString;
    this.#log = log;
  }

  get listening(): boolean {
    return this.#listening;
  }

  /** Connects and LISTENs; resolves once listening (or rejects on the first failure; retries continue). */
  async start(): Promise<void> {
    await this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({ connectionString: this.#connection, application_name: 'handoff-listener', keepAlive: true });
    this.#client = client;
    const lost = (err?: Error) => {
      if (this.#client !== client) return;
      this.#client = undefined;
      this.#listening = false;
      client.removeAllListeners();
      client.on('error', () => {});
      client.end().catch(() => {});
      if (this.#closed) return;
      this.#log.warn('event listener lost its connection; reconnecting', { err });
      this.#schedule();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (msg) => {
      if (msg.channel === CHANNEL && msg.payload && KEY.test(msg.payload)) this.#subs.wake(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      lost(err as Error);
      throw err;
    }
    const wasReconnect = this.#backoff > 100;
    this.#listening = true;
    this.#backoff = 100;
    if (wasReconnect) this.#log.info('event listener reconnected');
    // Whatever happened while we were not listening, everyone re-reads.
    this.#subs.wakeAll();
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, 5000);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#connect().catch(() => {});
    }, delay);
    this.#timer.unref();
  }

  readonly channel = CHANNEL;

  wake(key: string): void {
    queueMicrotask(() => this.#subs.wake(key));
  }

  async publish(key: string): Promise<void> {
    queueMicrotask(() => this.#subs.wake(key));
    try {
      await this.#store.notify(CHANNEL, key);
    } catch (err) {
      // Other instances' waits fall back on their own timers and reconnect re-reads; never fail the request.
      this.#log.warn('could not publish a handoff event', { err });
    }
  }

  subscribe(key: string, wake: () => void): () => void {
    return this.#subs.add(key, wake);
  }

  subscribeAll(wake: (key: string | undefined) => void): () => void {
    return this.#subs.addAll(wake);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    this.#listening = false;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => {});
      await client.end().catch(() => {});
    }
  }
}
