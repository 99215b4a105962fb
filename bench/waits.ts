import http from 'node:http';
import { Phone } from '../test/helpers/phone.js';
import { fleet } from './fleet.js';
import {
  DEVICE_GRANT,
  GC_NODE_FLAGS,
  type GcReading,
  type Instance,
  PASSWORD,
  freshPostgres,
  percentile,
  round,
  seed,
  settle,
  startInstance,
  waitsOn,
} from './lib.js';

/**
 * 10,000 concurrent waits on one instance: 5,000 held token requests (`Prefer: wait=300`, one per device code, as a
 * device would) and 5,000 status streams. Reports the instance's resident memory per wait, then approves sample
 * codes one at a time and reports approval-to-answer latency for held requests and streams.
 *
 * Beside it, the same open requests held by a bare Node HTTP server (floor-server.ts): the floor under any wait.
 *
 * Latency is measured from the moment the phone sends its approving request (the last hop of the approval), so it
 * includes that request's own processing: an upper bound on the push latency itself.
 */
const WAITS = Number(process.env.BENCH_WAITS ?? 10_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200);
/** With BENCH_INSTANCES=2 (PostgreSQL only): the waits are held by a second instance, approvals go to the first. */
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 1);
/** `held` or `stream` measures one kind alone (what one wait of that kind costs); both by default. */
const KIND = process.env.BENCH_KIND ?? 'both';

const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });

/** Connections come from several loopback addresses (one address has only ~28,000 ephemeral ports to one server port). */
const SOURCES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
let nextSource = 0;
const source = () => SOURCES[nextSource++ % SOURCES.length] as string;

function held(base: string, deviceCode: string, track: http.ClientRequest[]): Promise<{ at: number; body: string }> {
  return new Promise((resolve, reject) => {
    const body = new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: 'tv' }).toString();
    const req = http.request(
      `${base}/token`,
      {
        method: 'POST',
        agent,
        localAddress: source(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', prefer: 'wait=300', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ at: Date.now(), body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
    track.push(req);
  });
}

function stream(url: string, onState: (state: string, at: number) => void): http.ClientRequest {
  const req = http.get(url, { agent, localAddress: source(), headers: { accept: 'text/event-stream' } }, (res) => {
    res.setEncoding('utf8');
    let buf = '';
    res.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (data) onState((JSON.parse(data) as { state: string }).state, Date.now());
      }
    });
  });
  req.on('error', () => {});
  return req;
}

/**
 * The requests one side is sent. A connection reset while tens of thousands open at once (the listen queue overflows)
 * is opened again, as a device would, so each side holds every request it is sent; the resets are reported.
 */
class Load {
  stopping = false;
  readonly failures = new Map<string, number>();
  /** Every request sent (each side's are closed before the other side is loaded: one process has only so many sockets). */
  readonly requests: http.ClientRequest[] = [];

  #failed(err: unknown): void {
    const code = (err as { code?: string }).code ?? String(err);
    this.failures.set(code, (this.failures.get(code) ?? 0) + 1);
  }

  held(base: string, deviceCode: string, tries = 1): Promise<{ at: number; body: string }> {
    return held(base, deviceCode, this.requests).catch(async (err: unknown) => {
      if (this.stopping || tries >= 10) throw err;
      this.#failed(err);
      await settle(100 * tries);
      return this.held(base, deviceCode, tries + 1);
    });
  }

  stream(url: string, onState: (state: string, at: number) => void, tries = 1): void {
    const req = stream(url, onState);
    req.on('error', (err) => {
      if (this.stopping || tries >= 10) return;
      this.#failed(err);
      setTimeout(() => this.stream(url, onState, tries + 1), 100 * tries);
    });
    this.requests.push(req);
  }

  end(side: string): void {
    this.stopping = true;
    for (const r of this.requests) r.destroy();
    if (this.failures.size)
      process.stderr.write(`${side}: connections opened again after ${JSON.stringify(Object.fromEntries(this.failures))}\n`);
  }
}

interface Cost {
  /** Waits the process held at the last reading. */
  held: number;
  rssIdleMiB: number;
  rssLoadedMiB: number;
  /**
   * Resident memory one more wait costs: read after a forced full collection with a quarter of the waits open and again
   * with all of them, divided by the three quarters in between. What a process spends once, the first time it serves
   * (code compiled, the young generation grown to its working size, tables sized), is in neither reading, on either
   * side; a reading from idle would count it against whichever process had not yet paid it.
   */
  memoryPerWaitKiB: number;
  /** V8 heap in use per wait, between the same two readings. */
  heapPerWaitKiB: number;
  /** V8 heap reserved per wait (in use, and free within its pages). */
  heapTotalPerWaitKiB: number;
  /** Anonymous resident memory (the heap, malloc, buffers; not mapped code) per wait. */
  anonPerWaitKiB: number;
  externalPerWaitKiB: number;
  /** Resident memory per wait from idle to all waits open (fixed first-use costs included). */
  memoryPerWaitFromIdleKiB: number;
}

/**
 * What open requests add to the instance's live memory, per request (forced GC at each reading): `open(from, to)`
 * opens waits `from` to `to` and resolves when they are held.
 */
async function memoryPerWait(instance: Instance, count: number, open: (from: number, to: number) => Promise<void>): Promise<Cost> {
  // Divided by the waits the process reports holding at each reading (a request the load could not open counts on
  // neither side), after every one it was sent is held or a minute has passed.
  const holding = async () => {
    const w = await waitsOn(instance);
    return w.held + w.stream;
  };
  const opened = async (n: number) => {
    for (let i = 0; i < 600 && (await holding()) < n; i += 1) await settle(100);
    await settle(2000);
    return holding();
  };
  await settle(1000);
  const idle = await instance.gc();
  const quarter = Math.floor(count / 8) * 2; // even: both kinds of wait in each part
  await open(0, quarter);
  const first = await opened(quarter);
  const before = await instance.gc();
  await open(quarter, count);
  const all = await opened(count);
  const after = await instance.gc();
  if (all < count) process.stderr.write(`waits: ${all} of ${count} held\n`);
  const per = (key: keyof GcReading) => round((after[key] - before[key]) / (all - first), 2);
  return {
    held: all,
    rssIdleMiB: round(idle.rssKiB / 1024),
    rssLoadedMiB: round(after.rssKiB / 1024),
    memoryPerWaitKiB: per('rssKiB'),
    heapPerWaitKiB: per('heapUsedKiB'),
    heapTotalPerWaitKiB: per('heapTotalKiB'),
    anonPerWaitKiB: per('anonKiB'),
    externalPerWaitKiB: per('externalKiB'),
    memoryPerWaitFromIdleKiB: round((after.rssKiB - idle.rssKiB) / all, 2),
  };
}

/**
 * The same open requests, byte for byte (a token request of the same headers and body length, a stream of the same
 * path length), held by a bare Node HTTP server (floor-server.ts): what Node itself costs.
 */
async function nodeFloor(codes: ReadonlyArray<{ device_code: string; status_uri: string }>, base: string): Promise<Cost> {
  const floor = await startInstance({}, {}, 'floor', GC_NODE_FLAGS);
  const load = new Load();
  const perCode = KIND === 'both' ? 2 : 1;
  try {
    return await memoryPerWait(floor, codes.length * perCode, async (from, to) => {
      let open = 0;
      let streams = 0;
      for (let i = from / perCode; i < to / perCode; i += 1) {
        const code = codes[i] as (typeof codes)[number];
        if (KIND !== 'stream') load.held(floor.base, code.device_code).catch(() => {});
        if (KIND !== 'held') {
          streams += 1;
          load.stream(code.status_uri.replace(base, floor.base), () => (open += 1));
        }
      }
      for (let i = 0; i < 600 && open < streams; i += 1) await settle(100);
    });
  } finally {
    load.end('floor');
    await floor.stop();
  }
}

async function main() {
  if (process.env.BENCH_SCENARIO === 'fleet') return fleet();
  const pg = await freshPostgres();
  if (INSTANCES > 1 && !pg) throw new Error('two instances need PostgreSQL: set BENCH_DATABASE_URL');
  const engine = pg ? 'PostgreSQL' : 'PGlite';
  const instance = await startInstance(pg ? { DATABASE_URL: pg.url } : {}, {}, 'handoff', GC_NODE_FLAGS);
  const holder = INSTANCES > 1 && pg ? await startInstance({ DATABASE_URL: pg.url }, {}, 'handoff', GC_NODE_FLAGS) : instance;
  try {
    await seed(instance);
    const codes: Array<{ device_code: string; verification_uri_complete: string; status_uri: string }> = [];
    const perCode = KIND === 'both' ? 2 : 1;
    const n = Math.ceil(WAITS / perCode);
    for (let i = 0; i < n; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, n - i) }, async () => {
          const res = await fetch(`${instance.base}/device/auth`, {
            method: 'POST',
            body: new URLSearchParams({ client_id: 'tv', scope: 'openid' }),
          });
          return (await res.json()) as (typeof codes)[number];
        }),
      );
      codes.push(...batch);
    }
    const heldAnswers = new Map<string, Promise<{ at: number; body: string }>>();
    const streamApproved = new Map<string, number>();
    let streamsOpen = 0;
    const load = new Load();
    const cost = await memoryPerWait(holder, codes.length * perCode, async (from, to) => {
      const opened = streamsOpen;
      for (const code of codes.slice(from / perCode, to / perCode)) {
        if (KIND !== 'stream') {
          const answer = load.held(holder.base, code.device_code);
          answer.catch(() => {}); // awaited for the sampled codes; the rest are answered at shutdown
          heldAnswers.set(code.device_code, answer);
        }
        if (KIND !== 'held') {
          load.stream(code.status_uri.replace(instance.base, holder.base), (state, at) => {
            if (state === 'pending') streamsOpen += 1;
            if (state === 'approved') streamApproved.set(code.device_code, at);
          });
        }
      }
      const streams = KIND === 'held' ? 0 : (to - from) / perCode;
      for (let i = 0; i < 600 && streamsOpen - opened < streams; i += 1) await settle(100);
    });

    const phone = new Phone();
    const sample = codes.slice(0, Math.min(SAMPLES, codes.length));
    const heldLatency: number[] = [];
    const streamLatency: number[] = [];
    let first = true;
    for (const code of sample) {
      let page = await phone.request(code.verification_uri_complete);
      page = await phone.submit(page, { confirm: 'yes' });
      if (first && page.html.includes('name="password"')) page = await phone.submit(page, { username: 'alice', password: PASSWORD });
      if (page.html.includes('name="decision"')) page = await phone.submit(page, { decision: 'allow' });
      first = false;
      const approvedFrom = phone.lastHopStartedAt;
      const pending = heldAnswers.get(code.device_code);
      if (pending) {
        const answer = await pending;
        if (!answer.body.includes('access_token')) throw new Error(`held request answered ${answer.body}`);
        heldLatency.push(answer.at - approvedFrom);
      }
      if (KIND !== 'held') {
        for (let i = 0; i < 100 && !streamApproved.has(code.device_code); i += 1) await settle(5);
        streamLatency.push((streamApproved.get(code.device_code) ?? Number.NaN) - approvedFrom);
      }
    }
    load.end('handoff');
    const floor = await nodeFloor(codes, instance.base);

    const result = {
      scenario: INSTANCES > 1 ? 'held waits, answered across instances' : 'held waits',
      kind: KIND,
      engine,
      waits: codes.length * perCode,
      ...cost,
      floor,
      heldP50ms: percentile(heldLatency, 50),
      heldP99ms: percentile(heldLatency, 99),
      streamP50ms: percentile(streamLatency, 50),
      streamP99ms: percentile(streamLatency, 99),
      samples: sample.length,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    if (holder !== instance) await holder.stop();
    await instance.stop();
    await pg?.drop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
