import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, realpathSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Embedded PGlite serves exactly one process: a second process on the same data directory would see only its own
 * writes, and one side's data would be lost on restart. So the data directory is locked.
 *
 * The lock is a listening Unix socket, a lock the kernel releases itself when its holder exits, however it exits:
 * `kill -9`, a crash, an out-of-memory kill. The kernel closes a process's sockets as it exits, before its parent has
 * reaped it, so a holder that is a zombie for a moment after `kill -9` holds nothing and a restart at once succeeds;
 * no process table is read. On Linux it is an abstract socket named after the directory's real path (no file at all;
 * binding is atomic, so of two processes starting at once exactly one wins). Elsewhere it is a socket file in the
 * directory: a file whose socket nobody listens on (its holder is gone) is taken over under a short-lived guard file,
 * so two processes starting at once over a stale one cannot both win. (Node has no `flock`; a native add-on would
 * need a compiler on every machine that installs Handoff.)
 *
 * `handoff.lock` beside it names the holder (pid and host) for the message a second process prints; it decides
 * nothing. Abstract sockets belong to a network namespace: two containers sharing one volume are not kept apart.
 */
export class DataDirInUse extends Error {
  readonly dir: string;
  readonly pid: number | undefined;
  constructor(dir: string, pid: number | undefined) {
    super(
      `the data directory ${dir} is in use by another Handoff process${pid ? ` (pid ${pid})` : ''}; stop it first or choose another DATA_DIR`,
    );
    this.name = 'DataDirInUse';
    this.dir = dir;
    this.pid = pid;
  }
}

const INFO = 'handoff.lock';

/** The holder's pid as the info file says (only for the message). */
function holderPid(dir: string): number | undefined {
  try {
    const pid = (JSON.parse(readFileSync(join(dir, INFO), 'utf8')) as { pid?: unknown }).pid;
    return typeof pid === 'number' ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Where the lock's socket is: abstract on Linux, a file in the directory (or, for a long path, the temp dir) elsewhere. */
function socketFor(dir: string): { path: string; file: boolean } {
  const id = createHash('sha256').update(realpathSync(dir)).digest('hex').slice(0, 32);
  if (process.platform === 'linux') return { path: `\0handoff-data-dir-${id}`, file: false };
  const inDir = join(dir, 'handoff.lock.sock');
  return { path: Buffer.byteLength(inDir) < 100 ? inDir : join(tmpdir(), `handoff-${id}.sock`), file: true };
}

function listen(path: string): Promise<Server | 'in-use'> {
  return new Promise((resolve, reject) => {
    // A process that only checks whether the lock is held connects and is let go at once.
    const server = createServer((socket) => socket.destroy());
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve('in-use') : reject(err)));
    server.listen({ path, exclusive: true }, () => {
      server.unref();
      resolve(server);
    });
  });
}

/** Whether anything listens on a socket file (ECONNREFUSED: its listener is gone). */
function answered(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT'));
  });
}

function createExclusive(file: string): boolean {
  try {
    closeSync(openSync(file, 'wx', 0o600));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

function remove(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

/** Locks `dir` for this process; resolves to the release function. Rejects with {@link DataDirInUse} when another holds it. */
export async function lockDataDir(dir: string): Promise<() => void> {
  const { path, file } = socketFor(dir);
  let server = await listen(path);
  if (server === 'in-use' && file && !(await answered(path))) {
    // The socket file of a holder that is gone: taken over under a guard, so two starters cannot both take it.
    const guard = `${path}.takeover`;
    try {
      if (Date.now() - statSync(guard).mtimeMs > 5000) remove(guard);
    } catch {
      // no guard
    }
    if (createExclusive(guard)) {
      try {
        if (!(await answered(path))) {
          remove(path);
          server = await listen(path);
        }
      } finally {
        remove(guard);
      }
    }
  }
  if (server === 'in-use') throw new DataDirInUse(dir, holderPid(dir));
  const info = join(dir, INFO);
  const fd = openSync(info, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname() }));
  } finally {
    closeSync(fd);
  }
  const held = server;
  return () => {
    if (holderPid(dir) === process.pid) remove(info);
    held.close();
    if (file) remove(path);
  };
}
