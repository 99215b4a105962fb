import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, spawnHandoff, waitExit } from '../helpers/process.js';
import { TEST_ADMIN_TOKEN } from '../helpers/server.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

/** The state letter of a process in /proc (`Z` for a zombie), or undefined once it is gone. */
function stateOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** Resolves once a Handoff answers on `port`. */
async function answering(port: number): Promise<void> {
  for (let i = 0; i < 600; i += 1) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`)).ok) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('Handoff did not answer');
}

/**
 * The embedded database's data directory lock is one the kernel releases when its holder dies: a start right after
 * `kill -9` succeeds at once, even while the killed process is still a zombie nobody reaped; a live holder is refused
 * by name and pid; two starts at once cannot both win.
 */
describe('the data directory lock after a crash', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'handoff-lock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const env = async () => ({
    DATA_DIR: dir,
    PORT: String(await freePort()),
    ADMIN_PORT: String(await freePort()),
    NODE_ENV: 'production',
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
  });

  it('a start right after kill -9 succeeds at once, while the killed holder is still a zombie', async () => {
    const first = await env();
    // The holder's parent is a shell that execs `sleep` and never reaps it: after kill -9 it stays a zombie.
    const parent = spawn('sh', ['-c', `"${process.execPath}" "${MAIN}" >/dev/null 2>&1 & echo $!; exec sleep 120`], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...first },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout?.once('data', (d: Buffer) => resolve(d.toString().trim()))));
      await answering(Number(first.PORT));
      process.kill(pid, 'SIGKILL');
      // Wait for the event that matters: the holder has died (and, with no one to reap it, is a zombie).
      for (let i = 0; i < 400 && stateOf(pid) !== 'Z'; i += 1) await new Promise((r) => setTimeout(r, 10));
      assert.equal(stateOf(pid), 'Z', 'the killed holder is a zombie');
      const second = await spawnHandoff(await env());
      try {
        assert.equal(stateOf(pid), 'Z', 'it started while the old holder was still a zombie');
      } finally {
        second.child.kill('SIGTERM');
        await waitExit(second.child);
      }
    } finally {
      parent.kill('SIGKILL');
      await waitExit(parent);
    }
  });

  it('two starts at once: exactly one holds the directory, the other names it and its holder', async () => {
    const run = async () => {
      const e = await env();
      const child = spawn(process.execPath, [MAIN], {
        env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...e },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const outcome = new Promise<'listening' | 'refused'>((resolve) => {
        child.stdout?.on('data', () => out.includes('"msg":"listening"') && resolve('listening'));
        child.once('exit', () => resolve('refused'));
      });
      return { child, outcome, out: () => out };
    };
    const [a, b] = await Promise.all([run(), run()]);
    try {
      const outcomes = await Promise.all([a.outcome, b.outcome]);
      assert.deepEqual([...outcomes].sort(), ['listening', 'refused']);
      const [winner, loser] = outcomes[0] === 'listening' ? [a, b] : [b, a];
      assert.match(loser.out(), new RegExp(`in use by another Handoff process \\(pid ${winner.child.pid}\\)`));
    } finally {
      for (const p of [a, b]) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
      await Promise.all([waitExit(a.child), waitExit(b.child)]);
    }
  });
});
