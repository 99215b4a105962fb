import { readFileSync } from 'node:fs';
import type { EventBus } from './bus.js';

/**
 * Everything an instance holds open for waiting devices (held token requests and status streams): counted against
 * a cap per instance, per client address and per handoff, woken by the event bus and by one shared timeline, and
 * ended all at once on shutdown.
 *
 * The per-address and per-handoff caps keep one caller from taking the slots everyone else needs: one address
 * (an IPv4 address or an IPv6 /64) holds at most `perAddress` waits, and one device code or desktop code at most
 * `perHandoff` (a device needs one or two; the rest is room for reconnects).
 *
 * What a wait costs is what scale multiplies (bench/README.md, "memory per wait"): a wait is one object (a subclass
 * of {@link Wait}) and an entry in two maps. No closure, promise, timer or bus subscription is made per wait: the
 * registry subscribes to the bus once for every key, and one timer serves every deadline and heartbeat.
 */
export interface WaitLimits {
  max: number;
  perAddress: number;
  perHandoff: number;
}

export type Refusal = 'instance' | 'address' | 'handoff';

/**
 * How many waits an instance can hold with `fileLimit` open files (each wait is a socket): the configured cap, or a
 * tenth less than the limit when that is lower, so an instance refuses a wait (503, "poll instead") long before the
 * kernel refuses it a socket, the database a connection or an operator the admin port. Node raises its own soft
 * limit to the hard one at start, so `fileLimit` is what the process really has.
 */
export function waitCap(configured: number, fileLimit: number | undefined): number {
  if (!fileLimit || !Number.isFinite(fileLimit)) return configured;
  return Math.max(1, Math.min(configured, fileLimit - Math.max(64, Math.ceil(fileLimit / 10))));
}

/** The open-file limit of this process (Linux: /proc/self/limits), or undefined where it cannot be read. */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m?.[1] && m[1] !== 'unlimited' ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Why a wait is woken: its handoff may have changed, its time came, or the instance is stopping. */
export type Why = 'event' | 'time' | 'stop';

/**
 * One open wait. The registry calls {@link wake}; the wait asks for time with {@link WaitRegistry.schedule} and
 * gives its slot back with {@link WaitRegistry.release}.
 */
export abstract class Wait {
  /** Registry bookkeeping: the timeline slot it sits in (0: none), and whether it holds a slot. */
  slot = 0;
  live = false;

  /** The handoff it follows (its bus key). */
  readonly key: string;
  readonly kind: 'held' | 'stream';
  /** The client address key it counts against (http/address.ts). */
  readonly address: string;

  constructor(key: string, kind: 'held' | 'stream', address: string) {
    this.key = key;
    this.kind = kind;
    this.address = address;
  }

  abstract wake(why: Why): void;
}

/** Timeline resolution: a deadline or heartbeat is honoured within this many milliseconds. */
const TICK_MS = 25;

/**
 * Every wait's next time on one timer: waits sit in sets by slot (`TICK_MS` wide), the slots in a min-heap, and one
 * `setTimeout` is armed for the earliest. Moving a wait is a delete from one set and an add to another.
 */
class Timeline {
  readonly #slots = new Map<number, Set<Wait>>();
  readonly #heap: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  #armedFor = Number.POSITIVE_INFINITY;
  readonly #fire: (w: Wait) => void;

  constructor(fire: (w: Wait) => void) {
    this.#fire = fire;
  }

  set(w: Wait, at: number): void {
    this.remove(w);
    if (!Number.isFinite(at)) return;
    const slot = Math.ceil(at / TICK_MS);
    let set = this.#slots.get(slot);
    if (!set) {
      set = new Set();
      this.#slots.set(slot, set);
      push(this.#heap, slot);
    }
    set.add(w);
    w.slot = slot;
    if (slot < this.#armedFor) this.#arm();
  }

  remove(w: Wait): void {
    if (w.slot) this.#slots.get(w.slot)?.delete(w);
    w.slot = 0;
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
  }

  #arm(): void {
    const next = this.#heap[0];
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = next ?? Number.POSITIVE_INFINITY;
    if (next === undefined) return;
    this.#timer = setTimeout(this.#run, Math.max(0, next * TICK_MS - Date.now()));
    this.#timer.unref();
  }

  readonly #run = (): void => {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = Date.now();
    for (let slot = this.#heap[0]; slot !== undefined && slot * TICK_MS <= now; slot = this.#heap[0]) {
      pop(this.#heap);
      const set = this.#slots.get(slot);
      this.#slots.delete(slot);
      for (const w of set ?? []) {
        w.slot = 0;
        this.#fire(w);
      }
    }
    if (this.#timer === undefined) this.#arm();
  };
}

function push(heap: number[], n: number): void {
  heap.push(n);
  for (let i = heap.length - 1; i > 0; ) {
    const parent = (i - 1) >> 1;
    if ((heap[parent] as number) <= n) break;
    heap[i] = heap[parent] as number;
    heap[parent] = n;
    i = parent;
  }
}

function pop(heap: number[]): void {
  const last = heap.pop() as number;
  if (heap.length === 0) return;
  heap[0] = last;
  for (let i = 0; ; ) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < heap.length && (heap[l] as number) < (heap[m] as number)) m = l;
    if (r < heap.length && (heap[r] as number) < (heap[m] as number)) m = r;
    if (m === i) break;
    [heap[i], heap[m]] = [heap[m] as number, heap[i] as number];
    i = m;
  }
}

export class WaitRegistry {
  readonly #limits: WaitLimits;
  readonly #byKind = { held: 0, stream: 0 };
  readonly #byAddress = new Map<string, number>();
  /** The waits on each handoff: one wait as itself, more as an array (a device holds one or two). */
  readonly #byKey = new Map<string, Wait | Wait[]>();
  readonly #timeline = new Timeline((w) => w.wake('time'));
  readonly #unsubscribe: () => void;
  #active = 0;
  #stopping = false;

  constructor(limits: WaitLimits, bus: EventBus) {
    this.#limits = limits;
    this.#unsubscribe = bus.subscribeAll((key) => (key === undefined ? this.#wakeEvery('event') : this.#wakeKey(key)));
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

  /** Takes a slot for `w` (undefined), or says which cap refused it (`instance` also while shutting down). */
  acquire(w: Wait): Refusal | undefined {
    if (this.#stopping || this.#active >= this.#limits.max) return 'instance';
    const byAddress = this.#byAddress.get(w.address) ?? 0;
    if (byAddress >= this.#limits.perAddress) return 'address';
    const onKey = this.#byKey.get(w.key);
    const byHandoff = onKey === undefined ? 0 : Array.isArray(onKey) ? onKey.length : 1;
    if (byHandoff >= this.#limits.perHandoff) return 'handoff';
    this.#active += 1;
    this.#byKind[w.kind] += 1;
    this.#byAddress.set(w.address, byAddress + 1);
    if (onKey === undefined) this.#byKey.set(w.key, w);
    else if (Array.isArray(onKey)) onKey.push(w);
    else this.#byKey.set(w.key, [onKey, w]);
    w.live = true;
    return undefined;
  }

  /** Gives `w`'s slot back (idempotent). */
  release(w: Wait): void {
    if (!w.live) return;
    w.live = false;
    this.#timeline.remove(w);
    this.#active -= 1;
    this.#byKind[w.kind] -= 1;
    const n = (this.#byAddress.get(w.address) ?? 1) - 1;
    if (n <= 0) this.#byAddress.delete(w.address);
    else this.#byAddress.set(w.address, n);
    const onKey = this.#byKey.get(w.key);
    if (onKey === w) this.#byKey.delete(w.key);
    else if (Array.isArray(onKey)) {
      const rest = onKey.filter((x) => x !== w);
      this.#byKey.set(w.key, rest.length === 1 ? (rest[0] as Wait) : rest);
    }
  }

  /** Wakes `w` with `time` at `at` (ms since the epoch), replacing its earlier time; Infinity: never. */
  schedule(w: Wait, at: number): void {
    if (w.live) this.#timeline.set(w, at);
  }

  /** Ends every wait now (SIGTERM): held requests answer at once, streams close with a retry hint. */
  shutdown(): void {
    this.#stopping = true;
    this.#wakeEvery('stop');
    this.#timeline.stop();
    this.#unsubscribe();
  }

  #wakeKey(key: string): void {
    const onKey = this.#byKey.get(key);
    if (onKey === undefined) return;
    if (!Array.isArray(onKey)) onKey.wake('event');
    else for (const w of [...onKey]) w.wake('event');
  }

  #wakeEvery(why: Why): void {
    for (const onKey of [...this.#byKey.values()]) {
      if (!Array.isArray(onKey)) onKey.wake(why);
      else for (const w of [...onKey]) w.wake(why);
    }
  }
}

/**
 * A wait that re-checks a condition now and after every event until it holds, its deadline passes (after one last
 * check), the client goes away ({@link gone}) or the instance stops; then {@link end} is called once. A check that fails ends it with the
 * error. Events that arrive during a check are not lost: one more check follows.
 */
export abstract class CheckedWait extends Wait {
  #checking = false;
  #again = false;
  #timeUp = false;
  #over = false;

  protected readonly registry: WaitRegistry;
  readonly deadline: number;

  constructor(registry: WaitRegistry, key: string, address: string, deadline: number) {
    super(key, 'held', address);
    this.registry = registry;
    this.deadline = deadline;
  }

  /** Takes a slot and starts (undefined), or says which cap refused it (nothing else happens then). */
  start(): Refusal | undefined {
    const refused = this.registry.acquire(this);
    if (refused) return refused;
    this.registry.schedule(this, this.deadline);
    this.#check();
    return undefined;
  }

  /** The client hung up. */
  gone(): void {
    this.#finish('gone');
  }

  wake(why: Why): void {
    if (this.#over) return;
    if (why === 'stop') {
      this.#finish('done');
      return;
    }
    // At the deadline: one last look (the code may have expired right then), and the end whatever it shows.
    if (why === 'time') this.#timeUp = true;
    this.#check();
  }

  /** Whether the condition holds (the subclass keeps what it read). */
  protected abstract check(): Promise<boolean>;

  /** Called once: `done` (the condition held, the deadline passed or the instance stops), `gone`, or a failed check. */
  protected abstract end(outcome: 'done' | 'gone', error?: unknown): void;

  #check(): void {
    if (this.#checking) {
      this.#again = true;
      return;
    }
    this.#checking = true;
    this.check().then(
      (ok) => {
        this.#checking = false;
        if (this.#over) return;
        if (ok || this.registry.stopping) this.#finish('done');
        else if (this.#again) {
          this.#again = false;
          this.#check();
        } else if (this.#timeUp) this.#finish('done');
      },
      (err: unknown) => {
        this.#checking = false;
        this.#finish('done', err);
      },
    );
  }

  #finish(outcome: 'done' | 'gone', error?: unknown): void {
    if (this.#over) return;
    this.#over = true;
    this.registry.release(this);
    this.end(outcome, error);
  }
}

/** {@link CheckedWait} as a promise. */
class PromisedWait extends CheckedWait {
  condition: () => Promise<boolean> = async () => true;
  settle: (outcome: 'done' | 'gone', error?: unknown) => void = () => {};
  protected check(): Promise<boolean> {
    return this.condition();
  }
  protected end(outcome: 'done' | 'gone', error?: unknown): void {
    this.settle(outcome, error);
  }
}

/**
 * Calls `check` now and after every event for `key` until it returns true, `deadline` passes, the client goes away
 * (`onGone` fires) or the instance shuts down. Returns a refusal without waiting when a cap is full. (The promise
 * form of {@link CheckedWait}, for the less travelled paths.)
 */
export function waitUntil(
  registry: WaitRegistry,
  opts: { key: string; address: string; deadline: number; check: () => Promise<boolean>; onGone: (fn: () => void) => void },
): Promise<'done' | 'gone' | Refusal> {
  return new Promise((resolve, reject) => {
    const w = new PromisedWait(registry, opts.key, opts.address, opts.deadline);
    w.condition = opts.check;
    w.settle = (outcome, error) => (error !== undefined ? reject(error) : resolve(outcome));
    const refused = w.start();
    if (refused) resolve(refused);
    else opts.onGone(() => w.gone());
  });
}
