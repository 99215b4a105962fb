import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InProcessBus } from '../../src/events/bus.js';
import { CheckedWait, Wait, WaitRegistry, type Why, waitCap, waitUntil } from '../../src/events/waits.js';

/** A wait that only records how it was woken. */
class Probe extends Wait {
  readonly woken: Why[] = [];
  wake(why: Why): void {
    this.woken.push(why);
  }
}

/** A checked wait whose condition the test sets; resolves `ended` with how it ended and how many checks ran. */
class Flag extends CheckedWait {
  ready = false;
  checks = 0;
  readonly ended: Promise<string>;
  #resolve: (s: string) => void = () => {};
  constructor(registry: WaitRegistry, key: string, deadline: number) {
    super(registry, key, '203.0.113.7', deadline);
    this.ended = new Promise((r) => {
      this.#resolve = r;
    });
  }
  protected async check(): Promise<boolean> {
    this.checks += 1;
    return this.ready;
  }
  protected end(outcome: 'done' | 'gone', error?: unknown): void {
    this.#resolve(error ? 'error' : outcome);
  }
}

const limits = { max: 100, perAddress: 100, perHandoff: 4 };

describe('waits: the registry, its timeline and its caps (pure logic)', () => {
  it('holds fewer waits than the open-file limit allows, and the configured number when that is lower', () => {
    assert.equal(waitCap(10_000, undefined), 10_000);
    assert.equal(waitCap(10_000, 1_048_576), 10_000);
    assert.equal(waitCap(120_000, 20_000), 18_000);
    assert.equal(waitCap(10_000, 1024), 921);
    assert.equal(waitCap(10_000, 50), 1);
  });

  it('refuses by instance, address and handoff, and gives every slot back', () => {
    const registry = new WaitRegistry({ max: 3, perAddress: 2, perHandoff: 1 }, new InProcessBus());
    const a = new Probe('k1', 'held', 'a');
    const b = new Probe('k1', 'stream', 'b');
    const c = new Probe('k2', 'held', 'a');
    const d = new Probe('k3', 'held', 'a');
    assert.equal(registry.acquire(a), undefined);
    assert.equal(registry.acquire(b), 'handoff');
    assert.equal(registry.acquire(c), undefined);
    assert.equal(registry.acquire(d), 'address');
    assert.deepEqual(registry.byKind, { held: 2, stream: 0 });
    registry.release(a);
    registry.release(a);
    assert.equal(registry.active, 1);
    assert.equal(registry.acquire(b), undefined);
    assert.equal(registry.acquire(d), undefined);
    assert.equal(registry.acquire(new Probe('k4', 'held', 'z')), 'instance');
  });

  it('keeps its counts equal to the waits it holds, whatever the order of takes and releases (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ take: fc.boolean(), key: fc.integer({ min: 0, max: 3 }), address: fc.integer({ min: 0, max: 2 }) }), {
          maxLength: 60,
        }),
        (steps) => {
          const registry = new WaitRegistry({ max: 8, perAddress: 4, perHandoff: 2 }, new InProcessBus());
          const live: Probe[] = [];
          for (const s of steps) {
            if (s.take) {
              const w = new Probe(`k${s.key}`, s.key % 2 ? 'held' : 'stream', `a${s.address}`);
              const onKey = live.filter((x) => x.key === w.key).length;
              const onAddress = live.filter((x) => x.address === w.address).length;
              const expected = live.length >= 8 ? 'instance' : onAddress >= 4 ? 'address' : onKey >= 2 ? 'handoff' : undefined;
              assert.equal(registry.acquire(w), expected);
              if (!expected) live.push(w);
            } else if (live.length) {
              const w = live.splice(s.key % live.length, 1)[0] as Probe;
              registry.release(w);
            }
            assert.equal(registry.active, live.length);
            assert.equal(registry.byKind.held, live.filter((x) => x.kind === 'held').length);
          }
        },
      ),
    );
  });

  it('wakes every wait on a key when the bus says it changed, and no other', async () => {
    const bus = new InProcessBus();
    const registry = new WaitRegistry(limits, bus);
    const [x, y, z] = [new Probe('k', 'held', 'a'), new Probe('k', 'stream', 'a'), new Probe('other', 'held', 'a')];
    for (const w of [x, y, z]) registry.acquire(w);
    await bus.publish('k');
    await new Promise((r) => queueMicrotask(() => r(undefined)));
    assert.deepEqual([x.woken, y.woken, z.woken], [['event'], ['event'], []]);
    registry.release(x);
    await bus.publish('k');
    await new Promise((r) => queueMicrotask(() => r(undefined)));
    assert.deepEqual([x.woken, y.woken], [['event'], ['event', 'event']]);
  });

  it('wakes scheduled waits in the order of their times, once each, and not after they were released', async () => {
    const registry = new WaitRegistry(limits, new InProcessBus());
    const order: string[] = [];
    const done = new Promise<void>((resolve) => {
      class Timed extends Wait {
        wake(why: Why): void {
          order.push(`${this.key}:${why}`);
          if (this.key === 'last') resolve();
        }
      }
      const now = Date.now();
      const waits = ['c', 'a', 'gone', 'b', 'last'].map((k) => new Timed(k, 'held', 'a'));
      for (const w of waits) registry.acquire(w);
      const at = { a: 10, b: 60, c: 110, gone: 30, last: 200 } as Record<string, number>;
      for (const w of waits) registry.schedule(w, now + (at[w.key] as number));
      registry.release(waits[2] as Wait);
      // Moved: only its new time counts.
      registry.schedule(waits[0] as Wait, now + 150);
    });
    await done;
    assert.deepEqual(order, ['a:time', 'b:time', 'c:time', 'last:time']);
  });

  it('a checked wait ends once: when its condition holds after an event, at its deadline after one last check, or at shutdown', async () => {
    const bus = new InProcessBus();
    const registry = new WaitRegistry(limits, bus);
    const byEvent = new Flag(registry, 'e', Date.now() + 60_000);
    const byTime = new Flag(registry, 't', Date.now() + 20);
    const byStop = new Flag(registry, 's', Date.now() + 60_000);
    for (const w of [byEvent, byTime, byStop]) assert.equal(w.start(), undefined);
    byEvent.ready = true;
    await bus.publish('e');
    assert.equal(await byEvent.ended, 'done');
    assert.equal(await byTime.ended, 'done');
    assert.ok(byTime.checks >= 2, 'a last check at the deadline');
    assert.equal(registry.active, 1);
    registry.shutdown();
    assert.equal(await byStop.ended, 'done');
    assert.equal(registry.active, 0);
    assert.equal(byStop.start(), 'instance');
  });

  it('the promise form answers a refusal at once, and gone when the client hangs up', async () => {
    const registry = new WaitRegistry({ max: 1, perAddress: 1, perHandoff: 1 }, new InProcessBus());
    let hangUp: () => void = () => {};
    const held = waitUntil(registry, {
      key: 'k',
      address: 'a',
      deadline: Date.now() + 60_000,
      check: async () => false,
      onGone: (fn) => {
        hangUp = fn;
      },
    });
    const refused = await waitUntil(registry, {
      key: 'k2',
      address: 'b',
      deadline: Date.now() + 60_000,
      check: async () => false,
      onGone: () => {},
    });
    assert.equal(refused, 'instance');
    hangUp();
    assert.equal(await held, 'gone');
    assert.equal(registry.active, 0);
  });
});
