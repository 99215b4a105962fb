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
 * Scenarios 1, 2, 3 and 6, each measured side by side in one invocation on three servers: the baseline
 * (oidc-provider, in-memory adapter, Handoff's configuration), Handoff on PostgreSQL, Handoff on PGlite.
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

async function scenarios(name: string, instance: Instance, handoff: boolean, persistent = handoff): Promise<Row> {
  const base = instance.base;
  if (handoff) await seed(instance);
  await settle(1500);
  const row: Row = { server: name, rssIdleMiB: round(instance.rssKiB() / 1024) };
  const pid = instance.child.pid ?? 0;

  if (ONLY.has('polls')) {
    process.stderr.write(`${name}: polls\n`);
    // The in-memory store is an LRU of 500 entries; a database keeps every code, so 2,000 are polled round-robin.
    const codes = await deviceCodes(base, persistent ? 2000 : 500);
    let next = 0;
    const polls = await withCpu(pid, () =>
      measure(SECONDS, 32, async () => {
        const code = codes[next++ % codes.length] as string;
        const r = await postForm(`${base}/token`, { grant_type: DEVICE_GRANT, device_code: code, client_id: 'tv' });
        return r.body.error === 'authorization_pending';
      }),
    );
    row.pendingPollsPerSec = polls.perSecond;
    row.pollsNotPending = polls.other;
    row.pollNodeCpuMs = polls.nodeMsPerOp;
    row.pollPgCpuMs = polls.pgMsPerOp;
  }

  if (ONLY.has('auths')) {
    process.stderr.write(`${name}: auths\n`);
    const auths = await withCpu(pid, () =>
      measure(SECONDS, 32, async () => (await postForm(`${base}/device/auth`, { client_id: 'tv', scope: 'openid' })).status === 200),
    );
    row.deviceAuthsPerSec = auths.perSecond;
    row.authNodeCpuMs = auths.nodeMsPerOp;
    row.authPgCpuMs = auths.pgMsPerOp;
  }
  if (!ONLY.has('flows')) return row;

  process.stderr.write(`${name}: flows\n`);
  const phones = Array.from({ length: 8 }, () => new Phone());
  for (const p of phones) await flow(base, p, 'openid profile offline_access');
  const flows = await withCpu(pid, () =>
    measure(SECONDS, phones.length, async (w) => (await flow(base, phones[w] as Phone, 'openid profile')) !== undefined),
  );
  row.flowsPerSec = flows.perSecond;
  row.flowNodeCpuMs = flows.nodeMsPerOp;
  row.flowPgCpuMs = flows.pgMsPerOp;

  process.stderr.write(`${name}: refresh\n`);
  const refresh: string[] = [];
  for (const p of phones.slice(0, 8)) refresh.push(String((await flow(base, p, 'openid offline_access'))?.refresh_token));
  const refreshes = await measure(SECONDS, refresh.length, async (w) => {
    const r = await postForm(`${base}/token`, { grant_type: 'refresh_token', refresh_token: refresh[w] as string, client_id: 'tv' });
    if (r.status !== 200) return false;
    if (typeof r.body.refresh_token === 'string') refresh[w] = r.body.refresh_token;
    return true;
  });
  row.refreshPerSecPerCore = refreshes.perSecond;

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
  return row;
}

async function main() {
  const rows: Row[] = [];
  const baseline = await startInstance({}, { device: { pollInterval: 1 } }, 'baseline');
  try {
    rows.push(await scenarios('baseline (oidc-provider, memory)', baseline, false));
  } finally {
    await baseline.stop();
  }
  const plainDb = await freshPostgres();
  if (plainDb) {
    const plain = await startInstance({ BENCH_BASELINE_DATABASE_URL: plainDb.url }, { device: { pollInterval: 1 } }, 'baseline');
    try {
      rows.push(await scenarios('baseline (oidc-provider, plain PostgreSQL adapter)', plain, false, true));
    } finally {
      await plain.stop();
      await plainDb.drop();
    }
  }
  const cheap = {
    device: { ...BENCH_CONFIG.device, pollInterval: 1 },
    scrypt: { cost: 1024, blockSize: 8, parallelization: 1 },
  };
  const pg = await freshPostgres();
  if (pg) {
    const onPg = await startInstance({ DATABASE_URL: pg.url }, cheap);
    try {
      rows.push(await scenarios('Handoff, PostgreSQL', onPg, true));
    } finally {
      await onPg.stop();
      await pg.drop();
    }
  }
  if (process.env.BENCH_PGLITE !== '0') {
    const onPglite = await startInstance({}, cheap, 'handoff', process.env.BENCH_TURBOFAN ? [] : START_NODE_FLAGS);
    try {
      rows.push(await scenarios('Handoff, PGlite', onPglite, true));
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
