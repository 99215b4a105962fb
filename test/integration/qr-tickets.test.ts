import assert from 'node:assert/strict';
import { decide, issueTicket, retire, scan, use } from '../../src/qr-login/tickets.js';
import { Phone } from '../helpers/phone.js';
import { startTestServer } from '../helpers/server.js';

describe('scan-to-sign-in tickets', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer({
      qrLogin: { ticketSeconds: 60, confirmSeconds: 60, maxTicketsPerIp: 1000, maxScansPerIp: 3 },
    });
  });
  beforeEach(() => server.db('rate_counters').delete());
  after(() => server.close());

  const issue = () =>
    issueTicket(server.db, { interactionUid: 'uid-1', clientId: 'tv', scope: 'openid', ip: '127.0.0.1', ua: 'x', seconds: 60 });

  it('stores only the hash of the ticket', async () => {
    const t = await issue();
    assert.ok(!JSON.stringify(await server.db('qr_tickets').select()).includes(t.secret));
  });

  it('of 20 phones scanning at once, exactly one claims the ticket', async () => {
    const t = await issue();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        scan(server.db, t.secret, { sessionId: `phone-${i}`, accountId: server.userId, ip: '127.0.0.1' }, 60),
      ),
    );
    assert.equal(results.filter((r) => r.ok).length, 1);
    assert.ok(results.filter((r) => !r.ok).every((r) => !r.ok && r.reason === 'claimed'));
  });

  it('only the claiming phone decides, once; only this sign-in uses it, once', async () => {
    const t = await issue();
    assert.ok((await scan(server.db, t.secret, { sessionId: 'mine', accountId: server.userId, ip: '127.0.0.1' }, 60)).ok);
    assert.equal(await decide(server.db, t.id, 'someone-else', true), undefined);
    const approvals = await Promise.all([decide(server.db, t.id, 'mine', true), decide(server.db, t.id, 'mine', false)]);
    assert.equal(approvals.filter(Boolean).length, 1);
    const uses = await Promise.all([use(server.db, t.id, 'other-uid'), use(server.db, t.id, 'uid-1'), use(server.db, t.id, 'uid-1')]);
    assert.equal(uses.filter(Boolean).length, approvals[0] ? 1 : 0);
    const replay = await scan(server.db, t.secret, { sessionId: 'mine', accountId: server.userId, ip: '127.0.0.1' }, 60);
    assert.equal(replay.ok, false);
  });

  it('a rotated ticket can no longer be scanned', async () => {
    const t = await issue();
    assert.equal(await retire(server.db, t.id, 'uid-1'), true);
    const r = await scan(server.db, t.secret, { sessionId: 'p', accountId: server.userId, ip: '127.0.0.1' }, 60);
    assert.deepEqual([r.ok, !r.ok && r.reason], [false, 'expired']);
  });

  it('limits scans per address and protects decisions with CSRF', async () => {
    const phone = new Phone();
    let page = await phone.request(`${server.publicUrl}/account/devices`);
    page = await phone.submit(page, { username: 'alice', password: 'correct horse battery staple' });
    const t = await issue();
    const confirm = await phone.request(`${server.publicUrl}/q/${t.secret}`);
    assert.equal(confirm.status, 200);
    const forged = await phone.submit(confirm, { decision: 'approve', csrf: 'forged' });
    assert.equal(forged.status, 403);
    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await phone.request(`${server.publicUrl}/q/${'x'.repeat(43)}`)).status);
    assert.deepEqual(statuses, [404, 404, 429]);
  });
});
