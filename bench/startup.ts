import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/process.js';
import { freshPostgres, percentile, round } from './lib.js';

/**
 * `npm run bench:startup`: the time from running `npm start` (the README's command, prepare step included) to the
 * first answered discovery request, on a new data directory (migrations, keys, demo seed) and again on the same one
 * once it exists (what a restart costs). Connection attempts start at once and repeat every 10 ms, so a port that
 * accepted before it could answer would show as a failed request, counted in `refused`.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 3);

async function timeToFirstAnswer(env: Record<string, string>): Promise<{ ms: number; unanswered: number }> {
  const port = await freePort();
  const adminPort = await freePort();
  const started = performance.now();
  const child = spawn('npm', ['start', '--silent'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
  });
  let unanswered = 0;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`npm start exited (${child.exitCode})`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`);
        if (res.ok) return { ms: performance.now() - started, unanswered };
      } catch (err) {
        // Refused (nothing listening yet) is expected; a connection accepted and then dropped is not.
        if ((err as { cause?: { code?: string } }).cause?.code !== 'ECONNREFUSED') unanswered += 1;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    if (child.exitCode === null && child.pid) {
      const exited = new Promise((r) => child.once('exit', r));
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await exited;
    }
  }
}

async function scenario(engine: string, env: () => Promise<{ env: Record<string, string>; done: () => Promise<void> }>) {
  const first: number[] = [];
  const again: number[] = [];
  let unanswered = 0;
  for (let i = 0; i < RUNS; i += 1) {
    const { env: e, done } = await env();
    try {
      const a = await timeToFirstAnswer(e);
      const b = await timeToFirstAnswer(e);
      first.push(a.ms);
      again.push(b.ms);
      unanswered += a.unanswered + b.unanswered;
    } finally {
      await done();
    }
  }
  process.stdout.write(
    `${JSON.stringify({
      scenario: 'start-up',
      engine,
      newDataMsP50: round(percentile(first, 50), 0),
      existingDataMsP50: round(percentile(again, 50), 0),
      existingDataMsMax: round(Math.max(...again), 0),
      unanswered,
      runs: RUNS,
    })}\n`,
  );
}

await scenario('PGlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-startup-'));
  return { env: { DATA_DIR: dir }, done: async () => rmSync(dir, { recursive: true, force: true }) };
});
if (process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL) {
  await scenario('PostgreSQL', async () => {
    const pg = await freshPostgres();
    const dir = mkdtempSync(join(tmpdir(), 'handoff-startup-'));
    return {
      env: { DATA_DIR: dir, DATABASE_URL: pg?.url ?? '' },
      done: async () => {
        await pg?.drop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}
