import { type ChildProcess, fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Phone } from '../test/helpers/phone.js';
import {
  cpuMs,
  freshPostgres,
  GC_NODE_FLAGS,
  type GcReading,
  type Instance,
  PASSWORD,
  percentile,
  postgresCpuMs,
  round,
  seed,
  settle,
  startInstance,
  waitsOn,
} from './lib.js';

/**
 * The fleet: `BENCH_WAITS` concurrent waits (50,000 by default; half held token requests, half status streams)
 * spread over three Handoff instances on one PostgreSQL, held by as many load-generating processes as the open-file
 * limit needs (fleet-client.ts, 12,500 connections each). Every code is created on one instance, its held request
 * goes to the next and its stream to the one after, and the phone approves on the instance that created it: every
 * answer crosses instances through PostgreSQL.
 *
 * It reports, per instance and in total: live memory per wait (RSS and V8 heap after a forced full collection,
 * bench/gc-on-signal.ts) beside bare Node servers (floor-server.ts) holding the same requests in the same run;
 * approval-to-answer p50/p99/max for held requests and streams over `BENCH_SAMPLES` approvals; CPU of the instances
 * and of PostgreSQL while opening, while idle and per approval. Then it kills one instance (SIGKILL) and reports how
 * its clients came back (to the others, or polling when the others were full) and the answers to approvals of their
 * codes; then it shuts the others down (SIGTERM) and counts how every held request and stream ended.
 */
const WAITS = Number(process.env.BENCH_WAITS ?? 50_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 240);
const AFTER_KILL_SAMPLES = Number(process.env.BENCH_KILL_SAMPLES ?? 60);
const INSTANCES = 3;
const PER_GENERATOR = 12_500;
const IDLE_SECONDS = 20;

interface Generator {
  child: ChildProcess;
  messages: Array<Record<string, unknown>>;
}

/** Progress on stderr (a run takes minutes). */
const t0 = performance.now();
const progress = (what: string) => process.stderr.write(`fleet ${round((performance.now() - t0) / 1000)} s: ${what}\n`);

const answers = new Map<string, number>();
let streamsOpen = 0;
let sent = 0;
const unexpected: unknown[] = [];

function startGenerator(): Promise<Generator> {
  const child = fork(fileURLToPath(new URL('./fleet-client.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const g: Generator = { child, messages: [] };
  return new Promise((resolve) => {
    child.on('message', (m: Record<string, unknown>) => {
      if (m.type === 'ready') resolve(g);
      else if (m.type === 'answer') answers.set(`${m.kind}:${m.i}`, m.at as number);
      else if (m.type === 'stream-open') streamsOpen += 1;
      else if (m.type === 'sent') sent += 1;
      else if (m.type === 'unexpected') unexpected.push(m);
      else g.messages.push(m);
    });
  });
}

async function ask(g: Generator, type: string): Promise<Record<string, unknown>> {
  const before = g.messages.length;
  g.child.send({ type });
  for (let i = 0; i < 600 && g.messages.length === before; i += 1) await settle(50);
  return g.messages[g.messages.length - 1] ?? {};
}

async function until(what: string, ok: () => boolean | Promise<boolean>, seconds: number): Promise<number> {
  const started = performance.now();
  while (!(await ok())) {
    if (performance.now() - started > seconds * 1000) throw new Error(`timed out: ${what}`);
    await settle(100);
  }
  return round((performance.now() - started) / 1000);
}

const perWait = (before: GcReading, after: GcReading, count: number, key: keyof GcReading) => round((after[key] - before[key]) / count, 2);

function stats(values: number[]) {
  return {
    n: values.length,
    p50: round(percentile(values, 50)),
    p99: round(percentile(values, 99)),
    max: round(Math.max(...values)),
  };
}

async function approve(phone: Phone, url: string): Promise<number> {
  let page = await phone.request(url);
  page = await phone.submit(page, { confirm: 'yes' });
  if (page.html.includes('name="password"')) page = await phone.submit(page, { username: 'alice', password: PASSWORD });
  if (page.html.includes('name="decision"')) page = await phone.submit(page, { decision: 'allow' });
  return phone.lastHopStartedAt;
}

/** Approves codes one at a time and returns approval-to-answer for held requests and streams (ms). */
async function approvals(phone: Phone, picks: Array<{ i: number; url: string }>) {
  const held: number[] = [];
  const stream: number[] = [];
  const missing: number[] = [];
  for (const { i, url } of picks) {
    const from = await approve(phone, url);
    try {
      await until('held answer', () => answers.has(`held:${i}`), 30);
      await until('stream answer', () => answers.has(`stream:${i}`), 30);
    } catch {
      missing.push(i);
      continue;
    }
    held.push((answers.get(`held:${i}`) as number) - from);
    stream.push((answers.get(`stream:${i}`) as number) - from);
  }
  return { held: stats(held), stream: stats(stream), missing };
}

export async function fleet(): Promise<void> {
  const pg = await freshPostgres();
  if (!pg) throw new Error('the fleet needs PostgreSQL: set BENCH_DATABASE_URL');
  const env = { DATABASE_URL: pg.url };
  const first = await startInstance(env, {}, 'handoff', GC_NODE_FLAGS);
  const instances = [first, ...(await Promise.all([1, 2].map(() => startInstance(env, {}, 'handoff', GC_NODE_FLAGS))))];
  const generators: Generator[] = [];
  const floors: Instance[] = [];
  let killed = -1;
  try {
    await seed(first);
    const n = Math.ceil(WAITS / 2);
    const codes: Array<{ device_code: string; verification_uri_complete: string; status_uri: string }> = [];
    const created = performance.now();
    for (let i = 0; i < n; i += 60) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(60, n - i) }, async (_, k) => {
          const at = instances[(i + k) % INSTANCES] as Instance;
          const res = await fetch(`${at.base}/device/auth`, {
            method: 'POST',
            body: new URLSearchParams({ client_id: 'tv', scope: 'openid' }),
          });
          return (await res.json()) as (typeof codes)[number];
        }),
      );
      codes.push(...batch);
    }
    const createSeconds = round((performance.now() - created) / 1000);
    progress(`${n} codes created in ${createSeconds} s`);
    // Created on i % 3, held on the next instance, streamed from the one after.
    const specs = codes.map((c, i) => ({
      i,
      deviceCode: c.device_code,
      statusPath: new URL(c.status_uri).pathname,
      held: (i + 1) % INSTANCES,
      stream: (i + 2) % INSTANCES,
    }));

    const count = Math.max(1, Math.ceil(WAITS / PER_GENERATOR));
    for (let g = 0; g < count; g += 1) generators.push(await startGenerator());
    const share = (g: number) => specs.filter((_, i) => i % count === g);

    await settle(1000);
    const before = await Promise.all(instances.map((x) => x.gc()));
    const cpu0 = { nodes: instances.map((x) => cpuMs(x.child.pid as number)), pg: postgresCpuMs() };
    const opened = performance.now();
    for (const [k, g] of generators.entries())
      g.child.send({ type: 'open', target: 'handoff', bases: instances.map((x) => x.base), waits: share(k), kind: 'both' });
    await until(
      'every wait open',
      async () => {
        if (sent < count || streamsOpen < n) return false;
        const w = await Promise.all(instances.map(waitsOn));
        return w.reduce((a, b) => a + b.held + b.stream, 0) >= n * 2;
      },
      600,
    );
    const openSeconds = round((performance.now() - opened) / 1000);
    const whileOpening = (await Promise.all(generators.map((g) => ask(g, 'tally')))).map((t) => t.tally as Record<string, number>);
    progress(`${n * 2} waits open in ${openSeconds} s`);
    const cpu1 = { nodes: instances.map((x) => cpuMs(x.child.pid as number)), pg: postgresCpuMs() };
    await settle(2000);
    const after = await Promise.all(instances.map((x) => x.gc()));
    const held = await Promise.all(instances.map(waitsOn));

    // Holding, nothing happening (heartbeats only).
    const idle0 = { nodes: instances.map((x) => cpuMs(x.child.pid as number)), pg: postgresCpuMs() };
    await settle(IDLE_SECONDS * 1000);
    const idle1 = { nodes: instances.map((x) => cpuMs(x.child.pid as number)), pg: postgresCpuMs() };

    // Approvals on the instance that created each code; answers come from the other two.
    const phone = new Phone();
    const step = Math.max(1, Math.floor(n / SAMPLES));
    const picks = Array.from({ length: Math.min(SAMPLES, n) }, (_, s) => s * step).map((i) => ({
      i,
      url: (codes[i] as (typeof codes)[number]).verification_uri_complete,
    }));
    progress('approving');
    const a0 = { nodes: instances.map((x) => cpuMs(x.child.pid as number)), pg: postgresCpuMs() };
    const approved = await approvals(phone, picks);
    const a1 = { nodes: instances.map((x) => cpuMs(x.child.pid as number)), pg: postgresCpuMs() };

    // Room for a dead instance's clients: two survivors must hold what three did, each at most its cap (a tenth under
    // the open-file limit: 18,000 here). Beyond that the rest would poll (503, poll instead), which is what an
    // operator's headroom is for; the run first lets clients of codes go until the survivors' share fits.
    const capacity = Number(process.env.BENCH_SURVIVOR_CAP ?? 18_000) * (INSTANCES - 1);
    const keep = Math.min(n, Math.floor((capacity * 0.92) / 2));
    const goers = specs
      .filter((s) => !answers.has(`held:${s.i}`))
      .slice(0, Math.max(0, n - keep))
      .map((s) => s.i);
    if (goers.length) {
      for (const g of generators) g.child.send({ type: 'drop', ids: goers });
      await until(
        'clients gone',
        async () => (await Promise.all(instances.map(waitsOn))).reduce((a, b) => a + b.held + b.stream, 0) <= keep * 2 + 50,
        120,
      );
    }
    progress(`approved ${approved.held.n}; ${keep * 2} waits held; killing instance 2`);
    // One instance dies: its clients go to the others.
    killed = 2;
    const victim = instances[killed] as Instance;
    const lost = await waitsOn(victim);
    victim.child.kill('SIGKILL');
    await new Promise((r) => victim.child.once('exit', r));
    for (const g of generators) g.child.send({ type: 'dead', instance: killed });
    // Back: every unanswered code again has its held request and its stream on a survivor.
    const expected = (keep - [...answers.keys()].filter((k) => k.startsWith('held:')).length) * 2;
    let reattachError = '';
    let secondsUntilAllBack = Number.NaN;
    try {
      secondsUntilAllBack = await until(
        'clients of the killed instance back',
        async () =>
          (await Promise.all(instances.filter((_, k) => k !== killed).map(waitsOn))).reduce((a, b) => a + b.held + b.stream, 0) >= expected,
        180,
      );
    } catch (err) {
      reattachError = String(err);
    }
    const survivors = await Promise.all(instances.filter((_, k) => k !== killed).map(waitsOn));
    // Codes created on a survivor whose held request (created on 1) or stream (created on 0) was on the dead one.
    const gone = new Set(goers);
    const affected = specs.filter((s) => (s.held === killed || s.stream === killed) && !answers.has(`held:${s.i}`) && !gone.has(s.i));
    const kstep = Math.max(1, Math.floor(affected.length / AFTER_KILL_SAMPLES));
    const kpicks = Array.from(
      { length: Math.min(AFTER_KILL_SAMPLES, affected.length) },
      (_, s) => affected[s * kstep] as (typeof specs)[number],
    ).map((s) => ({ i: s.i, url: (codes[s.i] as (typeof codes)[number]).verification_uri_complete }));
    const afterKill = await approvals(phone, kpicks);

    progress('shutting down');
    // Shutdown: SIGTERM the survivors; count how every held request and stream ended.
    for (const g of generators) g.child.send({ type: 'quiet' });
    await settle(200);
    for (const [k, x] of instances.entries()) if (k !== killed) await x.stop();
    await settle(2000);
    const ends = (await Promise.all(generators.map((g) => ask(g, 'tally')))).map((t) => t.tally as Record<string, number>);
    const sum = (key: string) => ends.reduce((s, t) => s + (t[key] ?? 0), 0);
    for (const g of generators) await ask(g, 'close');

    progress('floor');
    // The floor: three bare Node servers holding the same requests, in the same run.
    for (let k = 0; k < INSTANCES; k += 1) floors.push(await startInstance({}, {}, 'floor', GC_NODE_FLAGS));
    await settle(1000);
    const fBefore = await Promise.all(floors.map((x) => x.gc()));
    streamsOpen = 0;
    sent = 0;
    for (const [k, g] of generators.entries())
      g.child.send({ type: 'open', target: 'floor', bases: floors.map((x) => x.base), waits: share(k), kind: 'both' });
    await until('every floor wait open', () => sent >= count && streamsOpen >= n, 600);
    await settle(3000);
    // Each floor's figure is divided by the requests it reports holding, as each instance's by its own waits.
    const fHeld = await Promise.all(floors.map(waitsOn));
    const fAfter = await Promise.all(floors.map((x) => x.gc()));
    for (const g of generators) await ask(g, 'close');

    const perInstance = instances.map((_, k) => {
      const waits = (held[k]?.held ?? 0) + (held[k]?.stream ?? 0);
      const b = before[k] as GcReading;
      const a = after[k] as GcReading;
      const fb = fBefore[k] as GcReading;
      const fa = fAfter[k] as GcReading;
      const rss = perWait(b, a, waits, 'rssKiB');
      const floorWaits = (fHeld[k]?.held ?? 0) + (fHeld[k]?.stream ?? 0);
      const floorRss = perWait(fb, fa, floorWaits, 'rssKiB');
      return {
        instance: k,
        waits,
        held: held[k]?.held,
        streams: held[k]?.stream,
        rssMiB: round(a.rssKiB / 1024),
        rssPerWaitKiB: rss,
        heapPerWaitKiB: perWait(b, a, waits, 'heapUsedKiB'),
        floorRssPerWaitKiB: floorRss,
        floorWaits,
        floorHeapPerWaitKiB: perWait(fb, fa, floorWaits, 'heapUsedKiB'),
        ratio: round(rss / floorRss, 2),
        cpuOpeningMs: (cpu1.nodes[k] ?? 0) - (cpu0.nodes[k] ?? 0),
        cpuIdlePerSecondMs: round(((idle1.nodes[k] ?? 0) - (idle0.nodes[k] ?? 0)) / IDLE_SECONDS),
        cpuPerApprovalMs: round(((a1.nodes[k] ?? 0) - (a0.nodes[k] ?? 0)) / Math.max(1, approved.held.n), 2),
      };
    });
    const total = (key: 'rssKiB' | 'heapUsedKiB', b: GcReading[], a: GcReading[]) =>
      round(a.reduce((s, x) => s + x[key], 0) / 1024 - b.reduce((s, x) => s + x[key], 0) / 1024);
    const result = {
      scenario: 'fleet: three instances, one PostgreSQL',
      waits: n * 2,
      generators: count,
      createSeconds,
      openSeconds,
      whileOpening: {
        heldNetworkErrors: whileOpening.reduce((a, t) => a + (t.heldNetworkErrors ?? 0), 0),
        streamReconnects: whileOpening.reduce((a, t) => a + (t.streamReconnects ?? 0), 0),
        refusals: whileOpening.reduce((a, t) => a + (t.heldRefusals ?? 0) + (t.streamRefusals ?? 0), 0),
      },
      perInstance,
      total: {
        rssMiB: total('rssKiB', before, after),
        floorRssMiB: total('rssKiB', fBefore, fAfter),
        ratio: round(total('rssKiB', before, after) / total('rssKiB', fBefore, fAfter), 2),
        heapMiB: total('heapUsedKiB', before, after),
        floorHeapMiB: total('heapUsedKiB', fBefore, fAfter),
      },
      postgres: {
        // PostgreSQL's CPU is read off its live processes: a backend that exits meanwhile takes its share with it.
        cpuOpeningMs: Math.max(0, cpu1.pg - cpu0.pg),
        cpuIdlePerSecondMs: round(Math.max(0, idle1.pg - idle0.pg) / IDLE_SECONDS),
        cpuPerApprovalMs: round(Math.max(0, a1.pg - a0.pg) / Math.max(1, approved.held.n), 2),
      },
      approvals: approved,
      kill: {
        waitsBefore: keep * 2,
        lostHeld: lost.held,
        lostStreams: lost.stream,
        secondsUntilAllBack,
        reattachError,
        survivors,
        heldRefusedAndRetried: sum('heldRefusals'),
        streamRefusedAndRetried: sum('streamRefusals'),
        approvals: afterKill,
      },
      shutdown: {
        heldTokens: sum('heldTokens'),
        heldAnsweredAtShutdown: sum('heldAnsweredAtShutdown'),
        heldCutAtShutdown: sum('heldCutAtShutdown'),
        streamsFinal: sum('streamsFinal'),
        streamsRetryAtShutdown: sum('streamsRetryAtShutdown'),
        streamsCutAtShutdown: sum('streamsCutAtShutdown'),
      },
      unexpected: unexpected.slice(0, 5),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    for (const g of generators) g.child.kill();
    for (const f of floors) await f.stop().catch(() => {});
    for (const [k, x] of instances.entries()) {
      if (k === killed) continue;
      if (x.child.exitCode === null && x.child.signalCode === null) await x.stop().catch(() => {});
    }
    if (killed >= 0) rmSync((instances[killed] as Instance).dir, { recursive: true, force: true });
    await pg.drop();
  }
}
