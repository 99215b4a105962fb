import assert from 'node:assert/strict';
import fc from 'fast-check';
import { combine } from '../../src/store/combine.js';

/**
 * Group commit (store/combine.ts) against a scripted database: each statement stays out until the script answers
 * it, so which calls arrive while which statements are out is chosen by fast-check, not by timing.
 */
interface Out {
  items: number[];
  answer: () => void;
}

function harness(maxInFlight: number, maxBatch: number, bad: Set<number>) {
  const out: Out[] = [];
  const sent: number[][] = [];
  let inFlight = 0;
  let peak = 0;
  const call = combine<number, number>(
    (items) =>
      new Promise<number[]>((resolve, reject) => {
        sent.push(items);
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        const o: Out = {
          items,
          answer: () => {
            out.splice(out.indexOf(o), 1);
            inFlight -= 1;
            // A statement is all or nothing: one bad item fails the whole statement.
            if (items.some((i) => bad.has(i))) reject(new Error(`bad ${items.find((i) => bad.has(i))}`));
            else resolve(items.map((i) => i * 10));
          },
        };
        out.push(o);
      }),
    { maxInFlight, maxBatch },
  );
  return { call, out, sent, peak: () => peak };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('group commit of single-statement writes', () => {
  it('every call gets its own answer or its own error; statements never exceed the limits; order is kept', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 8 }),
        // A script: `true` = a new call arrives, `false` = the oldest statement out is answered.
        fc.array(fc.boolean(), { minLength: 1, maxLength: 80 }),
        fc.array(fc.integer({ min: 0, max: 79 }), { maxLength: 6 }),
        async (maxInFlight, maxBatch, script, badList) => {
          const bad = new Set(badList);
          const h = harness(maxInFlight, maxBatch, bad);
          const settled = new Map<number, { ok: number } | { err: string }>();
          let next = 0;
          const all: Promise<void>[] = [];
          for (const step of script) {
            if (step) {
              const i = next++;
              const before = h.sent.length;
              const free = h.out.length < maxInFlight;
              all.push(
                h.call(i).then(
                  (ok) => void settled.set(i, { ok }),
                  (e: Error) => void settled.set(i, { err: e.message }),
                ),
              );
              // A call that finds a free slot goes out at once, alone; otherwise it waits.
              if (free) assert.deepEqual(h.sent.slice(before), [[i]], `call ${i} found a free slot`);
              else assert.equal(h.sent.length, before, `call ${i} waits for a slot`);
            } else {
              h.out[0]?.answer();
            }
            await flush();
          }
          // Answer everything still out (fallback statements included) until all calls settled.
          for (let guard = 0; settled.size < next && guard < 10_000; guard += 1) {
            h.out[0]?.answer();
            await flush();
          }
          await Promise.all(all);

          assert.equal(settled.size, next, 'every call settled');
          for (let i = 0; i < next; i += 1) {
            const s = settled.get(i);
            if (bad.has(i)) assert.deepEqual(s, { err: `bad ${i}` }, `call ${i} gets its own error`);
            else assert.deepEqual(s, { ok: i * 10 }, `call ${i} gets its own answer`);
          }
          assert.ok(h.peak() <= maxInFlight, `at most ${maxInFlight} statements out (saw ${h.peak()})`);
          for (const items of h.sent) {
            assert.ok(items.length >= 1 && items.length <= maxBatch);
            assert.deepEqual(
              items,
              [...items].sort((a, b) => a - b),
              'a statement carries its calls in arrival order',
            );
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('calls that arrive while every slot is taken go out together in one statement', async () => {
    const h = harness(1, 100, new Set());
    const calls = Array.from({ length: 10 }, (_, i) => h.call(i));
    assert.deepEqual(h.sent, [[0]], 'the first goes out alone, at once');
    h.out[0]?.answer();
    await flush();
    assert.deepEqual(h.sent, [[0], [1, 2, 3, 4, 5, 6, 7, 8, 9]], 'the nine that waited share one statement');
    h.out[0]?.answer();
    assert.deepEqual(await Promise.all(calls), [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  });
});
