import type { EventBus } from './bus.js';

/**
 * Everything an instance holds open for waiting devices (held token requests and status streams): counted against
 * a cap per instance, per client address and per handoff, and released all at once on shutdown.
 *
 * The per-address and per-handoff caps keep one caller from taking the slots everyone else needs: one address
 * (an IPv4 address or an IPv6 /64) holds at most `perAddress` waits, and one device code or desktop code at most
 * `perHandoff` (a device needs one or two; the rest is room for reconnects).
 */
export interface WaitLimits {
  max: number;
  perAddress: number;
  perHandoff: number;
}

export type Refusal = 'instance' | 'address' | 'handoff';

export interface WaitTicket {
  /** Gives the slot back (idempotent). */
  release(): void;
}

export class WaitRegistry {
  readonly #limits: WaitLimits;
  readonly #onShutdown = new Set<() => void>();
  readonly #byKind = { held: 0, stream: 0 };
  readonly #byAddress = new Map<string, number>();
  readonly #byHandoff = new Map<string, number>();
  #active = 0;
  #stopping = false;

  constructor(limits: WaitLimits) {
    this.#limits = limits;
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

  /** Takes a slot, or says which cap refused it (`instance` also while shutting down). */
  acquire(opts: { kind: 'held' | 'stream'; address: string; handoff: string; onShutdown: () => void }): WaitTicket | Refusal {
    if (this.#stopping || this.#active >= this.#limits.max) return 'instance';
    const byAddress = this.#byAddress.get(opts.address) ?? 0;
    if (byAddress >= this.#limits.perAddress) return 'address';
    const byHandoff = this.#byHandoff.get(opts.handoff) ?? 0;
    if (byHandoff >= this.#limits.perHandoff) return 'handoff';
    this.#active += 1;
    this.#byKind[opts.kind] += 1;
    this.#byAddress.set(opts.address, byAddress + 1);
    this.#byHandoff.set(opts.handoff, byHandoff + 1);
    this.#onShutdown.add(opts.onShutdown);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#active -= 1;
        this.#byKind[opts.kind] -= 1;
        decrement(this.#byAddress, opts.address);
        decrement(this.#byHandoff, opts.handoff);
        this.#onShutdown.delete(opts.onShutdown);
      },
    };
  }

  /** Ends every wait now (SIGTERM): held requests answer at once, streams close with a retry hint. */
  shutdown(): void {
    this.#stopping = true;
    for (const fn of [...this.#onShutdown]) fn();
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 1) - 1;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
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
 * Subscribes to `key` and calls `check` now and after every wake-up until it returns true, `deadline` passes, the
 * client goes away (`gone` fires) or the instance shuts down. Returns a refusal without waiting when a cap is full.
 */
export async function waitUntil(
  bus: EventBus,
  registry: WaitRegistry,
  opts: { key: string; address: string; deadline: number; check: () => Promise<boolean>; onGone: (fn: () => void) => void },
): Promise<'done' | 'gone' | Refusal> {
  const signal = new Wakeup();
  let gone = false;
  const ticket = registry.acquire({ kind: 'held', address: opts.address, handoff: opts.key, onShutdown: signal.wake });
  if (typeof ticket === 'string') return ticket;
  const unsubscribe = bus.subscribe(opts.key, signal.wake);
  // The slot is given back the moment the client hangs up, not when the wait would have ended.
  opts.onGone(() => {
    gone = true;
    unsubscribe();
    ticket.release();
    signal.wake();
  });
  try {
    while (!gone && !(await opts.check()) && Date.now() < opts.deadline && !registry.stopping) await signal.wait(opts.deadline);
    return gone ? 'gone' : 'done';
  } finally {
    unsubscribe();
    ticket.release();
  }
}
