import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * `npm run bench`: every scenario, one after another, in one invocation (so figures come from the same machine at
 * about the same time). Each scenario prints JSON lines; they are collected and echoed at the end. A scenario that
 * fails is reported and the others still run: their figures are printed, and the run exits non-zero.
 */
const dir = fileURLToPath(new URL('.', import.meta.url));
const runs: Array<{ script: string; env?: Record<string, string>; postgres?: boolean }> = [
  { script: 'startup.js' },
  { script: 'costs.js', postgres: true },
  { script: 'throughput.js' },
  { script: 'ciba.js' },
  { script: 'waits.js' },
  { script: 'waits.js', env: { BENCH_INSTANCES: '2', BENCH_WAITS: '2000' } },
  { script: 'waits.js', env: { BENCH_SCENARIO: 'fleet' }, postgres: true },
];
const results: string[] = [];
const failed: string[] = [];
const pg = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL;
for (const run of runs) {
  if ((run.env?.BENCH_INSTANCES || run.postgres) && !pg) {
    process.stderr.write(`skipping ${run.script} ${JSON.stringify(run.env ?? {})}: set BENCH_DATABASE_URL to a PostgreSQL server\n`);
    continue;
  }
  process.stderr.write(`running ${run.script} ${JSON.stringify(run.env ?? {})}\n`);
  const r = spawnSync(process.execPath, [`${dir}${run.script}`], {
    env: { ...process.env, ...run.env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  results.push(...r.stdout.split('\n').filter((l) => l.startsWith('{')));
  if (r.status !== 0) {
    failed.push(`${run.script} ${JSON.stringify(run.env ?? {})}`);
    process.stderr.write(`failed: ${run.script} ${JSON.stringify(run.env ?? {})} (exit ${r.status ?? r.signal})\n`);
  }
}
process.stdout.write(`${results.join('\n')}\n`);
if (failed.length > 0) {
  process.stderr.write(`${failed.length} scenario run(s) failed: ${failed.join('; ')}\n`);
  process.exit(1);
}
