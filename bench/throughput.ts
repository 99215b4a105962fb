import { Phone } from '../test/helpers/phone.js';
import {
  BENCH_CONFIG,
  withCpu,
  DEVICE_GRANT,
  freshPostgres,
  type Instance,
  measure,
  PASSWORD,
  postForm,
  round,
  seed,
  settle,
  START_NODE_FLAGS,
  startInstance,
} from './lib.js';

/**
 * Scenarios 1, 2, 3 and 6, each measured side by side in one invocation on four servers: the baselines
 * (oidc-provider with Handoff's configuration, with its in-memory adapter and with a plain PostgreSQL adapter), Handoff
 * on PostgreSQL, Handoff on PGlite. The plain baseline and Handoff on PostgreSQL run at the same time and scenarios 1
 * to 3 are measured on them in alternating rounds ({@link ROUNDS}); the others run alone, one after the other.
 *
 *   1. pending polls: `authorization_pending` answers per second, round-robin over pending codes: 500 on the
 *      baseline (its in-memory LRU store evicts beyond that), 2,000 on Handoff (so no code is polled sooner than its
 *      1 s interval: the slow_down check runs on every poll but never refuses)
 *   2. device authorizations per second
 *   3. complete device flows per second with an already signed-in phone (authorize, confirm, consent, redeem)
 *   6. refresh-token grants per second (one Node process, so per core), and resident memory: idle, and after
 *      10,000 phone sessions were created
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 10_000);

type Row = Record<string, string | number>;

async function deviceCodes(base: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, n - i) }, async () =>
        String((await postForm(`${base}/device/auth`, { client_id: 'tv', scope: 'openid' })).body.device_code),
      ),
    );
    out.push(...batch);
  }
  return out;
}

/** One device flow from a phone; `signIn` for the first flow of a phone (login and consent). */
async function flow(base: string, phone: Phone, scope: string): Promise<Record<string, unknown> | undefined> {
  const dc = (await postForm(`${base}/device/auth`, { client_id: 'tv', scope })).body as {
    device_code: string;
    verification_uri_complete: string;
  };
  let page = await phone.request(dc.verification_uri_complete);
  if (page.html.includes('Submitting Callback')) page = await phone.submit(page);
  page = await phone.submit(page, { confirm: 'yes' });
  if (page.html.includes('name="password"')) page = await phone.submit(page, { username: 'alice', password: PASSWORD }, '/login');
  const tokens = await postForm(`${base}/token`, { grant_type: DEVICE_GRANT, device_code: dc.device_code, client_id: 'tv' });
  return tokens.status === 200 ? tokens.body : undefined;
}

/** Which scenarios run (`BENCH_SCENARIOS=polls,auths` while working on one; all by default). */
const ONLY = new Set((process.env.BENCH_SCENARIOS ?? 'polls,auths,flows,refresh,sessions').split(','));
/**
 * Rounds of scenarios 1 to 3 on the two PostgreSQL servers, taken in turn (plain baseline, Handoff, Handoff, plain
 * baseline, ...): the machine's speed drifts over minutes (up to 40% on the 2-core VMs), and a drift that lands between
 * one server's measurement and the other's lands in their ratio. Each round's ratio compares two measurements taken
 * next to each other; the figures reported are the medians.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

type Measured = { perSecond: number; other: number; nodeMsPerOp: number; pgMsPerOp: number };
/** Scenarios 1 to 3 on one server, ready to be measured again and again (codes made, phones signed in). */
interface Hot {
  polls(): Promise<Measured>;
  auths(): Promise<Measured>;
  flows(): Promise<Measured>;
  phones: Phone[];
}

async function hot(instance: Instance, persistent: boolean): Promise<Hot> {
  const base = instance.base;
  const pid = instance.child.pid ?? 0;
  // The in-memory store is an LRU of 500 entries; a database keeps every code, so 2,000 are polled round-robin.
  const codes = ONLY.has('polls') ? await deviceCodes(base, persistent ? 2000 : 500) : [];
  let next = 0;
  const phones = Array.from({ length: 8 }, () => new Phone());
  for (const p of phones) await flow(base, p, 'openid profile offline_access');
  return {
    phones,
    polls: () =>
      withCpu(pid, () =>
        measure(SECONDS, 32, async () => {
          const code = codes[next++ % codes.length] as string;
          const r = await postForm(`${base}/token`, { grant_type: DEVICE_GRANT, device_code: code, client_id: 'tv' });
          return r.body.error === 'authorization_pending';
        }),
      ),
    auths: () =>
      withCpu(pid, () =>
        measure(SECONDS, 32, async () => (await postForm(`${base}/device/auth`, { client_id: 'tv', scope: 'openid' })).status === 200),
      ),
    flows: () =>
      withCpu(pid, () =>
        measure(SECONDS, phones.length, async (w) => (await flow(base, phones[w] as Phone, 'openid profile')) !== undefined),
      ),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/** Scenarios 1 to 3, each measured `rounds` times per server, the servers taken in turn; medians into each row. */
async function sideBySide(servers: Array<{ row: Row; hot: Hot }>, rounds: number): Promise<void> {
  const scenarios = [
    ['polls', 'pendingPollsPerSec', 'poll'],
    ['auths', 'deviceAuthsPerSec', 'auth'],
    ['flows', 'flowsPerSec', 'flow'],
  ] as const;
  for (const [scenario, rate, cpu] of scenarios) {
    if (!ONLY.has(scenario)) continue;
    const runs: Measured[][] = servers.map(() => []);
    for (let r = 0; r < rounds; r++) {
      const order = servers.map((_, i) => i);
      if (r % 2 === 1) order.reverse();
      for (const i of order) {
        const server = servers[i] as { row: Row; hot: Hot };
        process.stderr.write(`${server.row.server}: ${scenario}, round ${r + 1} of ${rounds}\n`);
        runs[i]?.push(await server.hot[scenario]());
      }
    }
    const first = runs[0] as Measured[];
    servers.forEach(({ row }, i) => {
      const mine = runs[i] as Measured[];
      row[rate] = round(median(mine.map((m) => m.perSecond)), 0);
      row[`${cpu}NodeCpuMs`] = round(median(mine.map((m) => m.nodeMsPerOp)), 3);
      row[`${cpu}PgCpuMs`] = round(median(mine.map((m) => m.pgMsPerOp)), 3);
      if (rounds > 1) row[`${rate}Rounds`] = mine.map((m) => m.perSecond).join(' ');
      if (scenario === 'polls') row.pollsNotPending = mine.reduce((n, m) => n + m.other, 0);
      // Against the first server (the baseline): the median of the rounds' ratios, each of two neighbouring runs.
      if (i > 0) row[`${rate}Ratio`] = round(median(mine.map((m, k) => m.perSecond / Math.max(1, first[k]?.perSecond ?? 1))), 2);
    });
  }
}

/** Refresh grants (scenario 6) and, for Handoff, memory after many phone sessions. */
async function rest(row: Row, instance: Instance, phones: Phone[], handoff: boolean): Promise<void> {
  const base = instance.base;
  if (ONLY.has('refresh')) {
    process.stderr.write(`${row.server}: refresh\n`);
    const refresh: string[] = [];
    for (const p of phones) refresh.push(String((await flow(base, p, 'openid offline_access'))?.refresh_token));
    const refreshes = await measure(SECONDS, refresh.length, async (w) => {
      const r = await postForm(`${base}/token`, { grant_type: 'refresh_token', refresh_token: refresh[w] as string, client_id: 'tv' });
      if (r.status !== 200) return false;
      if (typeof r.body.refresh_token === 'string') refresh[w] = r.body.refresh_token;
      return true;
    });
    row.refreshPerSecPerCore = refreshes.perSecond;
  }
  if (handoff && SESSIONS > 0 && ONLY.has('sessions')) {
    let made = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (made < SESSIONS) {
          made += 1;
          const phone = new Phone();
          const page = await phone.request(`${base}/account/signin`);
          const done = await phone.submit(page, { username: 'alice', password: PASSWORD }, '/login');
          if (!done.html.includes('Your devices')) throw new Error(`sign-in failed: ${done.status}`);
        }
      }),
    );
    await settle(2000);
    row.rssAfterSessionsMiB = round(instance.rssKiB() / 1024);
    row.sessions = SESSIONS;
  }
}

/** One server alone: scenarios 1 to 3 measured once each, then the rest. */
async function alone(name: string, instance: Instance, handoff: boolean): Promise<Row> {
  if (handoff) await seed(instance);
  await settle(1500);
  const row: Row = { server: name, rssIdleMiB: round(instance.rssKiB() / 1024) };
  const h = await hot(instance, handoff);
  await sideBySide([{ row, hot: h }], 1);
  await rest(row, instance, h.phones, handoff);
  return row;
}

async function main() {
  const rows: Row[] = [];
  const baseline = await startInstance({}, { device: { pollInterval: 1 } }, 'baseline');
  try {
    rows.push(await alone('baseline (oidc-provider, memory)', baseline, false));
  } finally {
    await baseline.stop();
  }
  const cheap = {
    device: { ...BENCH_CONFIG.device, pollInterval: 1 },
    scrypt: { cost: 1024, blockSize: 8, parallelization: 1 },
  };
  // The plain PostgreSQL baseline and Handoff on PostgreSQL run at the same time, measured in turn (ROUNDS).
  const plainDb = await freshPostgres();
  const pg = plainDb && (await freshPostgres());
  if (plainDb && pg) {
    const plain = await startInstance({ BENCH_BASELINE_DATABASE_URL: plainDb.url }, { device: { pollInterval: 1 } }, 'baseline');
    const onPg = await startInstance({ DATABASE_URL: pg.url }, cheap);
    try {
      await seed(onPg);
      await settle(1500);
      const plainRow: Row = { server: 'baseline (oidc-provider, plain PostgreSQL adapter)', rssIdleMiB: round(plain.rssKiB() / 1024) };
      const pgRow: Row = { server: 'Handoff, PostgreSQL', rssIdleMiB: round(onPg.rssKiB() / 1024) };
      const plainHot = await hot(plain, true);
      const pgHot = await hot(onPg, true);
      await sideBySide(
        [
          { row: plainRow, hot: plainHot },
          { row: pgRow, hot: pgHot },
        ],
        ROUNDS,
      );
      await rest(plainRow, plain, plainHot.phones, false);
      await rest(pgRow, onPg, pgHot.phones, true);
      rows.push(plainRow, pgRow);
    } finally {
      await plain.stop();
      await onPg.stop();
      await plainDb.drop();
      await pg.drop();
    }
  } else if (plainDb) await plainDb.drop();
  if (process.env.BENCH_PGLITE !== '0') {
    const onPglite = await startInstance({}, cheap, 'handoff', process.env.BENCH_TURBOFAN ? [] : START_NODE_FLAGS);
    try {
      rows.push(await alone('Handoff, PGlite', onPglite, true));
    } finally {
      await onPglite.stop();
    }
  }
  for (const r of rows) process.stdout.write(`${JSON.stringify({ scenario: 'throughput', ...r })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
