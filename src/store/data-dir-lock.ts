import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * Embedded PGlite serves exactly one process: a second process on the same data directory would see only its own
 * writes, and one side's data would be lost on restart. So the data directory is locked by a file naming its
 * holder (`handoff.lock`: pid, host, and the process's start time, so a reused pid is not mistaken for the holder).
 *
 * A lock whose holder is gone (kill -9, power loss) is stale and is taken over at the next start; a takeover is
 * itself guarded by a short-lived second file, so two processes starting at once over a stale lock cannot both win.
 */
export class DataDirInUse extends Error {
  readonly dir: string;
  readonly pid: number;
  constructor(dir: string, pid: number) {
    super(`the data directory ${dir} is in use by another Handoff process (pid ${pid}); stop it first or choose another DATA_DIR`);
    this.name = 'DataDirInUse';
    this.dir = dir;
    this.pid = pid;
  }
}

interface Holder {
  pid: number;
  host: string;
  started: string;
}

/** The kernel's start time of a process (Linux `/proc/<pid>/stat`, field 22); '' where /proc is not available. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : '';
  }
}

function alive(h: Holder): boolean {
  if (h.host !== hostname()) return true; // another machine sharing the directory: never steal its lock
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const started = startTimeOf(h.pid);
  if (started === undefined) return false;
  return started === '' || h.started === '' || started === h.started;
}

function readHolder(file: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as Partial<Holder>;
    if (typeof h.pid === 'number' && typeof h.host === 'string' && typeof h.started === 'string') return h as Holder;
  } catch {
    // unreadable or half-written: treated as stale
  }
  return undefined;
}

function create(file: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

function remove(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

/** Locks `dir` for this process; returns the release function. Throws {@link DataDirInUse} when another holds it. */
export function lockDataDir(dir: string): () => void {
  const file = join(dir, 'handoff.lock');
  const guard = join(dir, 'handoff.lock.takeover');
  const me: Holder = { pid: process.pid, host: hostname(), started: startTimeOf(process.pid) ?? '' };
  const content = JSON.stringify(me);
  const release = () => {
    if (readHolder(file)?.pid === me.pid) remove(file);
  };
  for (let attempt = 0; attempt < 50; attempt += 1) {
    if (create(file, content)) return release;
    const holder = readHolder(file);
    if (holder && alive(holder)) throw new DataDirInUse(dir, holder.pid);
    // Stale: take it over under the guard, or wait for whoever is taking it over.
    try {
      if (Date.now() - statSync(guard).mtimeMs > 5000) remove(guard);
    } catch {
      // no guard
    }
    if (create(guard, content)) {
      try {
        const again = readHolder(file);
        if (!again || !alive(again)) remove(file);
      } finally {
        remove(guard);
      }
    } else {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
  throw new Error(`could not lock the data directory ${dir}`);
}
