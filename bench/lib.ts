import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPostgresDatabase } from '../test/helpers/db.js';
import { freePort } from '../test/helpers/process.js';

/** Shared by the benchmarks: a real Handoff process on loopback, its memory, and latency statistics. */
const SCRIPTS = {
  handoff: fileURLToPath(new URL('../src/main.js', import.meta.url)),
  baseline: fileURLToPath(new URL('./baseline-server.js', import.meta.url)),
  floor: fileURLToPath(new URL('./floor-server.js', import.meta.url)),
};
/** Node flags that let a benchmark force a full collection and read live memory ({@link Instance.gc}). */
export const GC_NODE_FLAGS = ['--expose-gc', '--import', fileURLToPath(new URL('./gc-on-signal.js', import.meta.url))];

/** Live memory of a process after a forced full collection (gc-on-signal.ts). */
export interface GcReading {
  rssKiB: number;
  anonKiB: number;
  heapUsedKiB: number;
  heapTotalKiB: number;
  externalKiB: number;
}
/**
 * The Node flags `npm start` runs Handoff with (package.json): V8's baseline WebAssembly compiler only, which keeps
 * embedded PGlite's compiled code small (bench/README.md, "PGlite memory"); PostgreSQL deployments compile no
 * WebAssembly, so the flag changes nothing for them.
 */
export const START_NODE_FLAGS = ['--liftoff-only'];
export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const PASSWORD = 'benchmark password';

/** Limits high enough that a benchmark from one address is never throttled (it measures work, not refusals). */
export const BENCH_CONFIG = {
  device: {
    pollInterval: 5,
    maxFailedCodesPerSession: 5,
    maxFailedCodesPerIp: 10,
    failedCodeWindowSeconds: 600,
    maxAuthorizationsPerIp: 10_000_000,
    maxAuthorizationsPerClient: 10_000_000,
    authorizationWindowSeconds: 60,
    maxUnknownDeviceCodesPerIp: 10_000_000,
    unknownDeviceCodeWindowSeconds: 600,
    maxQrImagesPerIp: 10_000_000,
  },
  realtime: {
    maxWaitSeconds: 300,
    maxConcurrentWaits: 120_000,
    maxWaitsPerAddress: 120_000,
    maxWaitsPerHandoff: 4,
    heartbeatSeconds: 15,
    retryMilliseconds: 3000,
  },
  login: {
    maxFailuresPerAccountAndAddress: 10_000_000,
    maxFailuresPerAddress: 10_000_000,
    maxFailuresPerAccount: 10_000_000,
    maxFailuresPerKnownBrowser: 10_000_000,
    windowSeconds: 900,
    knownBrowserDays: 180,
  },
  qrLogin: {
    ticketSeconds: 75,
    rotateSeconds: 60,
    maxRotations: 5,
    confirmSeconds: 120,
    approvedSeconds: 10,
    maxTicketsPerIp: 10_000_000,
    maxScansPerIp: 10_000_000,
  },
  logLevel: 'warn',
};

export interface Instance {
  base: string;
  /** Its data directory (removed by stop()). */
  dir: string;
  admin: string;
  child: ChildProcess;
  rssKiB(): number;
  /** Forces a full collection and reads memory (only for processes started with GC_NODE_FLAGS). */
  gc(): Promise<GcReading>;
  stop(): Promise<void>;
}

export async function startInstance(
  env: Record<string, string>,
  extraConfig: Record<string, unknown> = {},
  script: keyof typeof SCRIPTS = 'handoff',
  nodeFlags: string[] = [],
): Promise<Instance> {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-bench-'));
  const configFile = join(dir, 'bench.json');
  writeFileSync(configFile, JSON.stringify({ ...BENCH_CONFIG, ...extraConfig }));
  const [port, adminPort] = [env.PORT ? Number(env.PORT) : await freePort(), await freePort()];
  const child = spawn(process.execPath, [...nodeFlags, SCRIPTS[script]], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      DATA_DIR: dir,
      CONFIG_FILE: configFile,
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      LOG_LEVEL: 'warn',
      ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
      ...(process.env.BENCH_HEAP_SNAPSHOTS ? { BENCH_HEAP_SNAPSHOTS: process.env.BENCH_HEAP_SNAPSHOTS } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`server exited (${code})`))));
  const ready = (async () => {
    for (;;) {
      try {
        if ((await fetch(`http://localhost:${port}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000) })).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await Promise.race([ready, exited]);
  // Lines `#gc {...}` answer gc(); everything else on stdout (the logs) is dropped.
  const gcWaiters: Array<(r: GcReading) => void> = [];
  let out = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    out += chunk;
    for (let i = out.indexOf('\n'); i >= 0; i = out.indexOf('\n')) {
      const line = out.slice(0, i);
      out = out.slice(i + 1);
      if (line.startsWith('#gc ')) gcWaiters.shift()?.(JSON.parse(line.slice(4)) as GcReading);
    }
  });
  return {
    base: `http://localhost:${port}`,
    dir,
    admin: `http://127.0.0.1:${adminPort}`,
    child,
    rssKiB: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0),
    gc: () =>
      new Promise<GcReading>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no #gc answer: was the process started with GC_NODE_FLAGS?')), 60_000);
        gcWaiters.push((r) => {
          clearTimeout(timer);
          resolve(r);
        });
        child.kill('SIGUSR2');
      }),
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh PostgreSQL database when BENCH_DATABASE_URL or DATABASE_URL names a server; undefined otherwise. */
export async function freshPostgres(): Promise<{ url: string; drop: () => Promise<void> } | undefined> {
  const base = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL;
  return base ? createPostgresDatabase(base) : undefined;
}

/** The admin token of benchmark servers (ADMIN_TOKEN). */
export const BENCH_ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef0123456789';

export async function adminPost(instance: Instance, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${instance.admin}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_ADMIN_TOKEN}` },
  });
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

export async function seed(instance: Instance): Promise<void> {
  await adminPost(instance, '/admin/users', { username: 'alice', password: PASSWORD, name: 'Alice Bench' });
  await adminPost(instance, '/admin/clients', {
    client_id: 'tv',
    client_name: 'Bench TV',
    token_endpoint_auth_method: 'none',
    grant_types: [DEVICE_GRANT, 'refresh_token'],
    response_types: [],
  });
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export async function settle(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/**
 * Runs `op` in `concurrency` parallel loops for `seconds`; returns completed operations per second (those for which
 * `op` returned true) and the count of the others.
 */
export async function measure(
  seconds: number,
  concurrency: number,
  op: (worker: number) => Promise<boolean>,
): Promise<{ perSecond: number; ok: number; other: number }> {
  const end = performance.now() + seconds * 1000;
  let ok = 0;
  let other = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (performance.now() < end) {
        if (await op(w)) ok += 1;
        else other += 1;
      }
    }),
  );
  return { perSecond: round(ok / ((performance.now() - started) / 1000), 0), ok, other };
}

export async function postForm(url: string, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', body: new URLSearchParams(form) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** CPU time (user + system) a process has used, in ms, from /proc (clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/** CPU time of every PostgreSQL server process on this machine (backends, WAL writer, checkpointer), in ms. */
export function postgresCpuMs(): number {
  let total = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (!/^\d+ \(postgres/.test(stat)) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/** Runs `work` and reports the server's and PostgreSQL's CPU per completed operation (ms). */
export async function withCpu<T extends { ok: number }>(
  pid: number,
  work: () => Promise<T>,
): Promise<T & { nodeMsPerOp: number; pgMsPerOp: number }> {
  const [node0, pg0] = [cpuMs(pid), postgresCpuMs()];
  const r = await work();
  const [node1, pg1] = [cpuMs(pid), postgresCpuMs()];
  const per = (d: number) => round(d / Math.max(1, r.ok), 3);
  return { ...r, nodeMsPerOp: per(node1 - node0), pgMsPerOp: per(pg1 - pg0) };
}

/** The waits an instance holds, from its metrics (`handoff_waits_current`; the floor server reports the same gauge). */
export async function waitsOn(instance: Instance): Promise<{ held: number; stream: number }> {
  const text = await (await fetch(`${instance.admin}/metrics`, { headers: { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` } })).text();
  const n = (kind: string) => Number(new RegExp(`^handoff_waits_current\\{kind="${kind}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { held: n('held'), stream: n('stream') };
}
