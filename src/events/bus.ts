/**
 * The event bus for handoff state changes (pending → scanned → approved | denied | expired).
 *
 * A notification is only a wake-up naming the handoff (the device code's key hash, never a secret): listeners
 * re-read the state from the database. So a lost notification delays nothing that a re-read would not fix, and a
 * duplicated one changes nothing.
 */
export interface EventBus {
  /** Announces that handoff `key` changed. Called after the change is committed, never inside a transaction. */
  publish(key: string): Promise<void>;
  /**
   * The PostgreSQL channel on which the statement that makes a change may announce it itself (`pg_notify(channel,
   * key)` in that statement: delivered at its commit, as {@link publish} would after it, one statement fewer), then
   * calls {@link wake}. Undefined where changes are announced in this process only (embedded PGlite).
   */
  readonly channel: string | undefined;
  /** Wakes this instance's subscribers of `key`: the change was announced to the others by its own statement. */
  wake(key: string): void;
  /** Calls `wake` whenever `key` may have changed (and after a reconnect, when anything may have); returns unsubscribe. */
  subscribe(key: string, wake: () => void): () => void;
  /**
   * Calls `wake(key)` for every key's change, and `wake(undefined)` when anything may have changed (a reconnect);
   * returns unsubscribe. For one listener that holds many waits (the wait registry): no subscription per wait.
   */
  subscribeAll(wake: (key: string | undefined) => void): () => void;
  /** Whether notifications from other instances are being received right now. */
  readonly listening: boolean;
  close(): Promise<void>;
}

/**
 * Whether PostgreSQL refused a statement because its notifications do not fit the NOTIFY queue (SQLSTATE 54000,
 * raised at commit: the whole statement is undone).
 */
export const notifyQueueFull = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === '54000';

/**
 * Makes a change that may announce itself, and announces it. `change(channel)` runs the change's statement, which
 * announces on `channel` when given one ({@link EventBus.channel}); `keyOf` says what its result needs announced
 * (undefined: nothing changed). Where PostgreSQL refuses the statement's notification (its NOTIFY queue is full: a
 * listener somewhere stopped reading; the error comes at commit, so the whole statement is undone), the change is
 * made again unannounced and announced by {@link EventBus.publish}, which logs and carries on: a decision is never
 * lost to its wake-up.
 */
export async function changeAnnounced<T>(
  bus: EventBus,
  change: (channel: string | undefined) => Promise<T>,
  keyOf: (result: T) => string | undefined,
): Promise<T> {
  if (bus.channel) {
    try {
      const result = await change(bus.channel);
      const key = keyOf(result);
      if (key) bus.wake(key);
      return result;
    } catch (err) {
      if (!notifyQueueFull(err)) throw err;
    }
  }
  const result = await change(undefined);
  const key = keyOf(result);
  if (key) await bus.publish(key);
  return result;
}

/** Subscribers by key, shared by both implementations. */
export class Subscribers {
  readonly #byKey = new Map<string, Set<() => void>>();
  readonly #all = new Set<(key: string | undefined) => void>();

  addAll(wake: (key: string | undefined) => void): () => void {
    this.#all.add(wake);
    return () => this.#all.delete(wake);
  }

  add(key: string, wake: () => void): () => void {
    let set = this.#byKey.get(key);
    if (!set) {
      set = new Set();
      this.#byKey.set(key, set);
    }
    set.add(wake);
    return () => {
      const s = this.#byKey.get(key);
      if (!s) return;
      s.delete(wake);
      if (s.size === 0) this.#byKey.delete(key);
    };
  }

  wake(key: string): void {
    for (const fn of this.#byKey.get(key) ?? []) fn();
    for (const fn of this.#all) fn(key);
  }

  wakeAll(): void {
    for (const set of this.#byKey.values()) for (const fn of set) fn();
    for (const fn of this.#all) fn(undefined);
  }

  get size(): number {
    let n = 0;
    for (const s of this.#byKey.values()) n += s.size;
    return n;
  }
}

/** One instance (and embedded PGlite, which is one process by nature). */
export class InProcessBus implements EventBus {
  readonly #subs = new Subscribers();
  readonly listening = true;
  readonly channel = undefined;

  wake(key: string): void {
    queueMicrotask(() => this.#subs.wake(key));
  }

  async publish(key: string): Promise<void> {
    queueMicrotask(() => this.#subs.wake(key));
  }
  subscribe(key: string, wake: () => void): () => void {
    return this.#subs.add(key, wake);
  }
  subscribeAll(wake: (key: string | undefined) => void): () => void {
    return this.#subs.addAll(wake);
  }
  async close(): Promise<void> {}
}
