import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createUser } from '../../src/accounts/users.js';
import { loadConfig } from '../../src/config/load.js';
import { startHandoff } from '../../src/server.js';
import { endLimitWindows } from '../helpers/fixtures.js';
import { Phone } from '../helpers/phone.js';
import { adminFetch, PASSWORD, postForm, redeem, startTestServer, TEST_ADMIN_TOKEN } from '../helpers/server.js';

const SECRET = 'webhook-secret-0123456789abcdef';

/**
 * A webhook receiver that holds every delivery until the test lets it go, so how many are open at once can be
 * counted; each arrival and each answer is an event a test waits on.
 */
async function holdingReceiver() {
  const arrived: Array<{ headers: IncomingHttpHeaders; body: string; release: () => void }> = [];
  let open = 0;
  let mostOpen = 0;
  const waiters: Array<{ n: number; done: () => void }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', () => {
      open += 1;
      mostOpen = Math.max(mostOpen, open);
      arrived.push({
        headers: req.headers,
        body,
        release: () => {
          open -= 1;
          res.writeHead(204).end();
        },
      });
      for (const w of waiters.filter((x) => arrived.length >= x.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.done();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    arrived,
    mostOpen: () => mostOpen,
    /** Resolves once `n` deliveries have arrived in all. */
    until: (n: number) => new Promise<void>((done) => (arrived.length >= n ? done() : waiters.push({ n, done }))),
    /** Lets deliveries through as they arrive until `n` have arrived in all, then forgets them. */
    async drain(n: number) {
      for (let i = 0; i < n; i += 1) {
        await new Promise<void>((done) => (arrived.length > i ? done() : waiters.push({ n: i + 1, done })));
        arrived[i]?.release();
      }
      arrived.splice(0);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('security: "I didn\'t start this" reports (third review, 9)', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let hook: Awaited<ReturnType<typeof holdingReceiver>>;
  before(async () => {
    hook = await holdingReceiver();
    server = await startTestServer({
      proxy: true,
      reports: { webhookUrl: hook.url, webhookSecret: SECRET, maxAttempts: 3, maxPerAccount: 2, maxPerAddress: 3, maxInFlight: 2 },
    });
    await createUser(server.store, { username: 'bob', password: PASSWORD }, server.config.scrypt);
  });
  beforeEach(() => endLimitWindows(server.db));
  after(async () => {
    await server.close();
    await hook.close();
  });

  const reports = async () =>
    (await (await adminFetch(server, 'GET', '/admin/audit?type=reported')).json()) as Array<Record<string, unknown>>;
  const queued = async () => Number((await server.db('report_deliveries').count<{ n: string }[]>({ n: '*' }))[0]?.n);
  async function code() {
    const r = await postForm(
      `${server.publicUrl}/device/auth`,
      { client_id: 'tv', scope: 'openid' },
      { 'x-forwarded-for': '203.0.113.10' },
    );
    return r.json as { device_code: string; verification_uri_complete: string };
  }
  async function signedIn(ip: string, username = 'alice') {
    const p = Phone.at(ip);
    await p.submit(await p.request(`${server.publicUrl}/account/devices`), { username, password: PASSWORD });
    return p;
  }
  /** The phone reports the code (the confirmation page's "I didn't start this", or a forged one where none is shown). */
  async function report(phone: Phone, dc: { verification_uri_complete: string }) {
    const page = await phone.request(dc.verification_uri_complete);
    return phone.submit(page, { report: 'yes' });
  }

  it('a browser that only holds a user code declines, but reports nothing (no button, and a forged one records nothing)', async () => {
    const dc = await code();
    const anonymous = Phone.at('198.51.100.40');
    const page = await anonymous.request(dc.verification_uri_complete);
    assert.match(page.html, /name="abort"/);
    assert.doesNotMatch(page.html, /name="report"/, 'no report button for a browser that is not signed in');
    const before = (await reports()).length;
    await anonymous.submit(page, { report: 'yes' });
    assert.equal((await redeem(server.publicUrl, dc.device_code)).json.error, 'access_denied', 'the decline stands');
    assert.equal((await reports()).length, before, 'no report recorded');
    assert.equal(await queued(), 0, 'no webhook event queued');
  });

  it('reports are limited per account and per address: past either, the decline stands and nothing is recorded', async () => {
    const alice = await signedIn('198.51.100.41');
    const before = (await reports()).length;
    const codes = [await code(), await code(), await code()];
    for (const dc of codes) await report(alice, dc);
    for (const dc of codes) assert.equal((await redeem(server.publicUrl, dc.device_code)).json.error, 'access_denied');
    const mine = (await reports()).slice(0, (await reports()).length - before);
    assert.equal(mine.length, 2, 'two per account');
    assert.ok(mine.every((r) => r.account_id === server.userId && r.actor_ip === '198.51.100.41'));
    // bob on the same address: the address has made 3 reports (2 recorded, 1 refused before it was counted here).
    const bob = await signedIn('198.51.100.41', 'bob');
    await report(bob, await code());
    await report(bob, await code());
    assert.equal((await reports()).length - before, 3, 'three per address, whoever reports');
    // Another address and account are not touched by either limit (nobody is locked out of reporting).
    await report(await signedIn('198.51.100.99', 'bob'), await code());
    assert.equal((await reports()).length - before, 4);
    // Let every delivery of this test go, so the next test starts with an empty queue.
    await hook.drain(4);
  });

  it('webhook deliveries are bounded: at most maxInFlight at once, each event once with its own id', async () => {
    const reporters = [
      await signedIn('198.51.100.50'),
      await signedIn('198.51.100.51'),
      await signedIn('198.51.100.53', 'bob'),
      await signedIn('198.51.100.54', 'bob'),
    ];
    for (const p of reporters) await report(p, await code());
    await hook.until(2);
    assert.equal(await queued(), 4, 'every event is queued; two are being sent');
    hook.arrived[0]?.release();
    await hook.until(3);
    hook.arrived[1]?.release();
    await hook.until(4);
    hook.arrived[2]?.release();
    hook.arrived[3]?.release();
    assert.equal(hook.mostOpen(), 2, 'never more than maxInFlight open at once');
    const ids = hook.arrived.map((d) => String(d.headers['x-handoff-event-id']));
    assert.equal(new Set(ids).size, 4, 'four events, four ids');
    for (const d of hook.arrived) assert.equal((JSON.parse(d.body) as { id: string }).id, d.headers['x-handoff-event-id']);
    hook.arrived.splice(0);
  });
});

describe('security: the report webhook queue survives a restart (third review, 9)', () => {
  it('an event queued while the receiver was down arrives after a restart, with the same id', async () => {
    const closed = await holdingReceiver();
    const url = closed.url;
    await closed.close(); // nothing listens there now
    const reports = { webhookUrl: url, webhookSecret: SECRET, maxAttempts: 10 };
    const first = await startTestServer({ proxy: true, reports });
    const config = loadConfig({ NODE_ENV: 'test' }, { port: 0, adminPort: 0, adminToken: TEST_ADMIN_TOKEN, proxy: true, reports });
    const dc = (await postForm(`${first.publicUrl}/device/auth`, { client_id: 'tv', scope: 'openid' })).json as {
      verification_uri_complete: string;
    };
    const phone = Phone.at('198.51.100.60');
    await phone.submit(await phone.request(`${first.publicUrl}/account/devices`), { username: 'alice', password: PASSWORD });
    await phone.submit(await phone.request(dc.verification_uri_complete), { report: 'yes' });
    const [row] = await first.db('report_deliveries').select<Array<{ id: string }>>('id');
    assert.ok(row, 'queued in the database');
    await first.close();

    // The receiver comes up where the webhook points; a new instance on the same database delivers the event.
    const port = Number(new URL(url).port);
    const received = new Promise<{ headers: IncomingHttpHeaders; body: string }>((resolve) => {
      const up = createServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => {
          body += d.toString();
        });
        req.on('end', () => {
          res.writeHead(204).end();
          up.close();
          resolve({ headers: req.headers, body });
        });
      });
      up.listen(port, '127.0.0.1');
    });
    const second = await startHandoff(config, { db: first.db });
    try {
      const d = await received;
      assert.equal(d.headers['x-handoff-event-id'], row.id);
      assert.equal((JSON.parse(d.body) as { id: string; account_id: string }).account_id, first.userId);
    } finally {
      await second.close();
    }
  });
});
