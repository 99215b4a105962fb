import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';

/**
 * Loaded into a benchmarked process with `--expose-gc --import` (never by Handoff itself): on SIGUSR2 it runs a full
 * garbage collection, then prints one line `#gc {...}` with the process's memory, so a benchmark compares live
 * memory, not garbage that happened to be uncollected when it looked. With `BENCH_HEAP_SNAPSHOTS=<dir>` each reading
 * also writes a heap snapshot there (`<pid>-<n>.heapsnapshot`), to see what a wait keeps.
 */
type Gc = (opts?: { type: 'major'; execution: 'sync'; flavor?: 'regular' | 'last-resort' }) => void;
const gc = (globalThis as { gc?: Gc }).gc;

let taken = 0;
process.on('SIGUSR2', () => {
  // V8's last-resort collection (what it runs before giving up on memory) compacts the heap and gives free pages
  // back, so what stays resident is what the process keeps, not pages left over from work it did before.
  gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  const snapshots = process.env.BENCH_HEAP_SNAPSHOTS;
  if (snapshots) {
    taken += 1;
    writeHeapSnapshot(join(snapshots, `${process.pid}-${taken}.heapsnapshot`));
  }
  const m = process.memoryUsage();
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  const line = {
    rssKiB: kib('VmRSS'),
    anonKiB: kib('RssAnon'),
    heapUsedKiB: m.heapUsed / 1024,
    heapTotalKiB: m.heapTotal / 1024,
    externalKiB: m.external / 1024,
  };
  process.stdout.write(`#gc ${JSON.stringify(line)}\n`);
});
