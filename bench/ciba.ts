import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Phone } from '../test/helpers/phone.js';
import {
  adminPost,
  BENCH_CONFIG,
  DEVICE_GRANT,
  freshPostgres,
  type Instance,
  measure,
  PASSWORD,
  percentile,
  round,
  seed,
  startInstance,
  withCpu,
} from './lib.js';

/**
 * Backchannel approval (CIBA) beside the device flow, in one run on one instance (PostgreSQL when BENCH_DATABASE_URL
 * names a server, else PGlite):
 *
 * 1. requests per second: CIBA backchannel requests (`POST /backchannel`, client_secret_basic, a known user) and device
 *    authorizations (`POST /device/auth`), each for the same seconds at the same concurrency, with the instance's and
 *    PostgreSQL's CPU per request;
 * 2. approval-to-answer: for each of BENCH_SAMPLES approvals, the time from the phone's approving request to the ping
 *    arriving at a ping-mode client's notification endpoint (a local HTTP server), and, beside it, from a phone's
 *    device-code approval to the answer of the device's held token request. p50/p99/max, ms.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200);
const CIBA = 'urn:openid:params:grant-type:ciba';

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function main() {
  const pg = await freshPostgres();
  const notify = createServer();
  await new Promise<void>((r) => notify.listen(0, '127.0.0.1', r));
  const instance: Instance = await startInstance(pg ? { DATABASE_URL: pg.url } : {}, {
    device: { ...BENCH_CONFIG.device, pollInterval: 1 },
    scrypt: { cost: 1024, blockSize: 8, parallelization: 1 },
    ciba: { requestSeconds: 600, maxPerClient: 10_000_000, maxPerClientAndUser: 10_000_000, maxPerUser: 10_000_000, windowSeconds: 60 },
  });
  try {
    await seed(instance);
    const desk = await adminPost(instance, '/admin/clients', {
      client_id: 'desk',
      client_name: 'Bench Desk',
      grant_types: [CIBA],
      response_types: [],
      backchannel_token_delivery_mode: 'poll',
    });
    const till = await adminPost(instance, '/admin/clients', {
      client_id: 'till',
      client_name: 'Bench Till',
      grant_types: [CIBA],
      response_types: [],
      backchannel_token_delivery_mode: 'ping',
      backchannel_client_notification_endpoint: `https://127.0.0.1:${(notify.address() as AddressInfo).port}/ping`,
    });
    const deskAuth = basic('desk', String(desk.client_secret));
    const tillAuth = basic('till', String(till.client_secret));
    const backchannel = (authorization: string, extra: Record<string, string> = {}) =>
      fetch(`${instance.base}/backchannel`, {
        method: 'POST',
        headers: { authorization },
        body: new URLSearchParams({ scope: 'openid', login_hint: 'alice', ...extra }),
      });

    const pid = instance.child.pid ?? 0;
    const cibaRate = await withCpu(pid, () =>
      measure(SECONDS, CONCURRENCY, async () => {
        const r = await backchannel(deskAuth);
        await r.arrayBuffer();
        return r.status === 200;
      }),
    );
    const deviceRate = await withCpu(pid, () =>
      measure(SECONDS, CONCURRENCY, async () => {
        const r = await fetch(`${instance.base}/device/auth`, {
          method: 'POST',
          body: new URLSearchParams({ client_id: 'tv', scope: 'openid' }),
        });
        await r.arrayBuffer();
        return r.status === 200;
      }),
    );

    // Approval to answer: the phone signs in once, then approves one request at a time.
    const phone = new Phone();
    await phone.submit(await phone.request(`${instance.base}/account/signin`), { username: 'alice', password: PASSWORD });
    const pingLatency: number[] = [];
    const heldLatency: number[] = [];
    let pinged: ((at: number) => void) | undefined;
    notify.on('request', (req, res) => {
      const at = performance.now();
      req.resume();
      req.on('end', () => {
        res.writeHead(204).end();
        pinged?.(at);
      });
    });
    for (let i = 0; i < SAMPLES; i += 1) {
      // CIBA, ping mode.
      const asked = await backchannel(tillAuth, { client_notification_token: `bench-${i}` });
      await asked.arrayBuffer();
      // The phone opens the newest waiting request, listed first (the throughput phase's are older, left waiting).
      const list = await phone.request(`${instance.base}/account/devices`);
      const id = /data-ciba-request="([\w-]+)"/.exec(list.html)?.[1];
      const page = await phone.request(`${instance.base}/account/requests/${id}`);
      const ping = new Promise<number>((resolve) => {
        pinged = resolve;
      });
      const started = performance.now();
      await phone.submit(page, { decision: 'approve' });
      pingLatency.push((await ping) - started);

      // Device flow, a held token request.
      const d = (await (
        await fetch(`${instance.base}/device/auth`, { method: 'POST', body: new URLSearchParams({ client_id: 'tv', scope: 'openid' }) })
      ).json()) as { device_code: string; verification_uri_complete: string };
      let confirm = await phone.request(d.verification_uri_complete);
      const held = fetch(`${instance.base}/token`, {
        method: 'POST',
        headers: { prefer: 'wait=30' },
        body: new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: d.device_code, client_id: 'tv' }),
      }).then(async (r) => {
        const at = performance.now();
        await r.arrayBuffer();
        return at;
      });
      const approved = performance.now();
      confirm = await phone.submit(confirm, { confirm: 'yes' });
      heldLatency.push((await held) - approved);
    }
    const summary = (v: number[]) => ({ p50: round(percentile(v, 50)), p99: round(percentile(v, 99)), max: round(Math.max(...v)) });
    const row = {
      scenario: 'ciba',
      database: pg ? 'postgres' : 'pglite',
      seconds: SECONDS,
      concurrency: CONCURRENCY,
      cibaRequestsPerSecond: cibaRate.perSecond,
      cibaNodeMsPerRequest: cibaRate.nodeMsPerOp,
      cibaPgMsPerRequest: cibaRate.pgMsPerOp,
      deviceAuthorizationsPerSecond: deviceRate.perSecond,
      deviceNodeMsPerRequest: deviceRate.nodeMsPerOp,
      devicePgMsPerRequest: deviceRate.pgMsPerOp,
      samples: SAMPLES,
      approvalToPingMs: summary(pingLatency),
      approvalToHeldAnswerMs: summary(heldLatency),
    };
    process.stdout.write(`${JSON.stringify(row)}\n`);
  } finally {
    await instance.stop();
    notify.close();
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
