import type { EventBus } from '../events/bus.js';

/**
 * Everything an instance holds open for waiting devices (held token requests and status streams): counted against
 * a cap, and released all at once on shutdown.
 */
export class WaitRegistry {
  readonly #max: number;
  readonly #onShutdown = new Set<() => void>();
  readonly #byKind = { held: 0, stream: 0 };
  #active = 0;
  #stopping = false;

  constructor(max: number) {
    this.#max = max;
  }

  get active(): number {
    return this.#active;
  }

  /** Open waits by kind (for metrics). */
  get byKind(): { held: number; stream: number } {
    return { ...this.#byKind };
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** Takes a slot; undefined when full or shutting down. The returned function gives it back (idempotent). */
  acquire(onShutdown: () => void, kind: 'held' | 'stream' = 'held'): (() => void) | undefined {
    if (this.#stopping || this.#active >= this.#max) return undefined;
    this.#active += 1;
    this.#byKind[kind] += 1;
    this.#onShutdown.add(onShutdown);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#active -= 1;
      this.#byKind[kind] -= 1;
      this.#onShutdown.delete(onShutdown);
    };
  }

  /** Ends every wait now (SIGTERM): held requests answer at once, streams close with a retry hint. */
  shutdown(): void {
    this.#stopping = true;
    for (const fn of [...this.#onShutdown]) fn();
  }
}

/**
 * A wake-up signal that cannot be lost: a wake that arrives while nobody is waiting is remembered and ends the
 * next wait at once. Waits also end at `deadline` (ms since the epoch).
 */
export class Wakeup {
  #pending = false;
  #resolve: (() => void) | undefined;

  readonly wake = (): void => {
    this.#pending = true;
    this.#resolve?.();
  };

  wait(deadline: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      const self = this;
      function done() {
        clearTimeout(timer);
        self.#pending = false;
        self.#resolve = undefined;
        resolve();
      }
      this.#resolve = done;
    });
  }
}

/**
 * Subscribes to `key` and calls `check` now and after every wake-up until it returns true, `deadline` passes, or
 * the instance shuts down. Returns 'full' without waiting when the instance holds its maximum of waits.
 */
export async function waitUntil(
  bus: EventBus,
  registry: WaitRegistry,
  key: string,
  deadline: number,
  check: () => Promise<boolean>,
): Promise<'done' | 'full'> {
  const signal = new Wakeup();
  const release = registry.acquire(signal.wake, 'held');
  if (!release) return 'full';
  const unsubscribe = bus.subscribe(key, signal.wake);
  try {
    while (!(await check()) && Date.now() < deadline && !registry.stopping) await signal.wait(deadline);
    return 'done';
  } finally {
    unsubscribe();
    release();
  }
}
