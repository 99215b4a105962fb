import { createServer, type Socket, connect } from 'node:net';
import pg from 'pg';
import * as oidc from 'openid-client';
import { desktopCompletes, desktopLogin, desktopNumber, hasQr, phoneDecides } from '../test/helpers/desktop.js';
import { Phone } from '../test/helpers/phone.js';
import { freePort } from '../test/helpers/process.js';
import {
  adminPost,
  BENCH_ADMIN_TOKEN,
  cpuMs,
  DEVICE_GRANT,
  freshPostgres,
  type Instance,
  PASSWORD,
  postgresCpuMs,
  round,
  seed,
  settle,
  startInstance,
} from './lib.js';

/**
 * `npm run bench:costs` (PostgreSQL only): what one device sign-in costs, phase by phase, for the capacity model in
 * bench/README.md. N sign-ins run through a byte-counting loopback proxy in front of one instance (the issuer names
 * the proxy, so every redirect goes through it too); each phase reports, per sign-in:
 *   HTTP requests (the instance's own request counter), SQL statements (`handoff_sql_statements_total`),
 *   transactions, write transactions (transaction ids assigned) and rows written (`pg_stat_database`), WAL bytes,
 *   Node and PostgreSQL CPU ms, and bytes on the wire both ways.
 * Phases: device authorization; one pending poll; the phone's decision (a phone already signed in: open the
 * verification link, Approve); redemption by a poll; and, for the other half of the codes, one held token request
 * opened before the decision and answered with tokens by it. Then number matching: the phone's decision for a device
 * client that matches numbers (open the link, the device reads its number from its status once, pick it), and a whole
 * desktop scan sign-in (login page with its QR, phone opens and claims, desktop reads its state, phone decides,
 * desktop completes) for a relying party with number matching off and one with it on.
 */
const N = Number(process.env.BENCH_COSTS_SIGNINS ?? 200);

interface Totals {
  requests: number;
  statements: number;
  transactions: number;
  writeTransactions: number;
  rowsWritten: number;
  walBytes: number;
  nodeCpuMs: number;
  pgCpuMs: number;
  wireBytes: number;
}

/** A TCP proxy that counts every byte in both directions. */
async function countingProxy(target: number): Promise<{ port: number; bytes: () => number; close: () => void }> {
  let bytes = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    upstream.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    client.pipe(upstream).pipe(client);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    port,
    bytes: () => bytes,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

async function metric(instance: Instance, name: string): Promise<number> {
  const text = await (await fetch(`${instance.admin}/metrics`, { headers: { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` } })).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

async function main() {
  const db = await freshPostgres();
  if (!db) throw new Error('bench:costs measures PostgreSQL: set BENCH_DATABASE_URL');
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  const port = await freePort();
  const proxy = await countingProxy(port);
  const issuer = `http://localhost:${proxy.port}`;
  const instance = await startInstance(
    { DATABASE_URL: db.url, PORT: String(port), ISSUER: issuer },
    {
      device: { pollInterval: 1, maxAuthorizationsPerIp: 10_000_000, maxAuthorizationsPerClient: 10_000_000 },
      qrLogin: { maxTicketsPerIp: 10_000_000, maxScansPerIp: 10_000_000 },
      scrypt: { cost: 1024, blockSize: 8, parallelization: 1 },
    },
  );
  const pid = instance.child.pid ?? 0;

  const totals = async (): Promise<Totals> => {
    await settle(11_000); // PostgreSQL flushes an idle backend's statistics within 10 s of its last transaction
    const stats = (
      await sql.query(
        `SELECT xact_commit + xact_rollback AS xacts, tup_inserted + tup_updated + tup_deleted AS rows,
                pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next_xid,
                pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS wal
           FROM pg_stat_database WHERE datname = current_database()`,
      )
    ).rows[0] as { xacts: string; rows: string; next_xid: string; wal: string };
    return {
      requests: await metric(instance, 'handoff_http_requests_total'),
      statements: await metric(instance, 'handoff_sql_statements_total'),
      transactions: Number(stats.xacts),
      writeTransactions: Number(stats.next_xid),
      rowsWritten: Number(stats.rows),
      walBytes: Number(stats.wal),
      nodeCpuMs: cpuMs(pid),
      pgCpuMs: postgresCpuMs(),
      wireBytes: proxy.bytes(),
    };
  };
  // This bench's own statistics queries are transactions too: measured with an empty phase and subtracted.
  const print = (name: string, per: Totals) => {
    const row: Record<string, string | number> = { scenario: 'costs', phase: name };
    for (const k of Object.keys(per) as Array<keyof Totals>) row[k] = round(per[k], 2);
    process.stdout.write(`${JSON.stringify(row)}\n`);
  };
  const phase = async (name: string, per: number, work: () => Promise<void>): Promise<Totals> => {
    const a = await totals();
    await work();
    const b = await totals();
    const each = { ...a };
    for (const k of Object.keys(a) as Array<keyof Totals>) each[k] = (b[k] - a[k] - (overhead[k] ?? 0)) / per;
    if (name) print(name, each);
    return each;
  };
  const overhead: Partial<Totals> = {};
  {
    const a = await totals();
    const b = await totals();
    for (const k of Object.keys(a) as Array<keyof Totals>)
      overhead[k] = k === 'nodeCpuMs' || k === 'pgCpuMs' || k === 'walBytes' ? 0 : b[k] - a[k];
  }

  try {
    await seed(instance);
    // Ten phones, each signed in once (not counted): one person decides one code at a time on a phone.
    const phones: Phone[] = [];
    for (let w = 0; w < 10; w += 1) {
      const phone = new Phone();
      await phone.submit(await phone.request(`${issuer}/account/signin`), { username: 'alice', password: PASSWORD }, '/login');
      phones.push(phone);
    }

    const post = (form: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${issuer}${form.grant_type ? '/token' : '/device/auth'}`, { method: 'POST', body: new URLSearchParams(form), headers });
    const codes: Array<{ device_code: string; verification_uri_complete: string }> = [];
    const parallel = async (count: number, op: (i: number, worker: number) => Promise<void>) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 10 }, async (_, worker) => {
          while (next < count) await op(next++, worker);
        }),
      );
    };

    await phase('device authorization', N, () =>
      parallel(N, async () => {
        const r = await post({ client_id: 'tv', scope: 'openid' });
        codes.push((await r.json()) as (typeof codes)[number]);
      }),
    );
    await settle(1100); // past the 1 s interval, so the poll below is paced, not slowed down
    await phase('pending poll', N, () =>
      parallel(N, async (i) => {
        const body = (await (
          await post({ grant_type: DEVICE_GRANT, client_id: 'tv', device_code: codes[i]?.device_code ?? '' })
        ).json()) as {
          error?: string;
        };
        if (body.error !== 'authorization_pending') throw new Error(`poll: ${JSON.stringify(body)}`);
      }),
    );
    const half = Math.floor(N / 2);
    // Held requests for the second half, opened before the phone decides; their cost is counted with the decisions.
    let held: Promise<unknown>[] = [];
    const withHeld = await phase('', N, async () => {
      held = codes.slice(half).map(async (c) => {
        const body = (await (
          await post({ grant_type: DEVICE_GRANT, client_id: 'tv', device_code: c.device_code }, { prefer: 'wait=60' })
        ).json()) as {
          access_token?: string;
        };
        if (!body.access_token) throw new Error(`held: ${JSON.stringify(body)}`);
      });
      await parallel(N, async (i, w) => {
        const page = await (phones[w] as Phone).approveDevice(codes[i]?.verification_uri_complete ?? '');
        if (!/Device connected/.test(page.html)) throw new Error(`approve: ${page.status} ${page.url} ${page.html.slice(0, 2000)}`);
      });
      await Promise.all(held);
    });
    await phase('redemption by poll', half, () =>
      parallel(half, async (i) => {
        const body = (await (
          await post({ grant_type: DEVICE_GRANT, client_id: 'tv', device_code: codes[i]?.device_code ?? '' })
        ).json()) as {
          access_token?: string;
        };
        if (!body.access_token) throw new Error(`redeem: ${JSON.stringify(body)}`);
      }),
    );
    // The held requests alone are the difference between that phase and the same decisions with none open.
    const more: typeof codes = [];
    for (let i = 0; i < N; i += 1) more.push((await (await post({ client_id: 'tv', scope: 'openid' })).json()) as (typeof codes)[number]);
    await settle(1100);
    const alone = await phase('phone decision', N, () =>
      parallel(N, async (i, w) => {
        const page = await (phones[w] as Phone).approveDevice(more[i]?.verification_uri_complete ?? '');
        if (!/Device connected/.test(page.html)) throw new Error(`approve: ${page.status}`);
      }),
    );
    const heldEach = { ...alone };
    for (const k of Object.keys(alone) as Array<keyof Totals>) heldEach[k] = ((withHeld[k] - alone[k]) * N) / (N - half);
    print('held token request, answered with tokens', heldEach);

    // Number matching on a device client: the phone picks the number the device shows (read once from its status).
    await adminPost(instance, '/admin/clients', {
      client_id: 'tv-match',
      token_endpoint_auth_method: 'none',
      grant_types: [DEVICE_GRANT],
      response_types: [],
      handoff_number_matching: true,
    });
    const matching: Array<{ verification_uri_complete: string; status_uri: string }> = [];
    for (let i = 0; i < N; i += 1)
      matching.push((await (await post({ client_id: 'tv-match', scope: 'openid' })).json()) as (typeof matching)[number]);
    await settle(1100);
    await phase('phone decision, number matching on (with the device reading its number once)', N, () =>
      parallel(N, async (i, w) => {
        const phone = phones[w] as Phone;
        const code = matching[i] as (typeof matching)[number];
        const page = await phone.request(code.verification_uri_complete);
        const number = ((await (await fetch(code.status_uri, { headers: { accept: 'application/json' } })).json()) as { number?: number })
          .number;
        const done = await phone.submit(page, { confirm: String(number) });
        if (!/Device connected/.test(done.html)) throw new Error(`approve: ${done.status}`);
      }),
    );

    // Desktop scan sign-ins, number matching off and on.
    const metadata = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as oidc.ServerMetadata;
    for (const [clientId, extra] of [
      ['rp-off', { handoff_number_matching: false }],
      ['rp', {}],
    ] as const) {
      const created = await adminPost(instance, '/admin/clients', {
        client_id: clientId,
        redirect_uris: ['https://rp.example.com/cb'],
        ...extra,
      });
      const rp = new oidc.Configuration(metadata, clientId, String(created.client_secret));
      oidc.allowInsecureRequests(rp);
      const scans = Math.floor(N / 2);
      await phase(`desktop scan sign-in, number matching ${clientId === 'rp' ? 'on' : 'off'}`, scans, () =>
        parallel(scans, async (_i, w) => {
          const d = await desktopLogin(rp, 'https://rp.example.com/cb');
          if (!hasQr(d)) throw new Error('no QR code on the login page');
          const decided = await phoneDecides(phones[w] as Phone, d);
          if (!/Computer signed in/.test(decided.html)) throw new Error(`scan: ${decided.status}`);
          // The desktop reads its ticket's state once either way (with number matching on, the helper read it to pick).
          if (clientId === 'rp-off') await desktopNumber(d, issuer);
          const back = await desktopCompletes(d, issuer);
          if (!back.url.startsWith('https://rp.example.com/cb')) throw new Error(`complete: ${back.status} ${back.url}`);
        }),
      );
    }
  } finally {
    await instance.stop();
    proxy.close();
    await sql.end();
    await db.drop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
