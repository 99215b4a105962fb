import assert from 'node:assert/strict';
import { endLimitWindows, expireTicket, liveSession } from '../helpers/fixtures.js';
import { claim, decide, issueTicket, phoneView, retire, ticketBySecret, use } from '../../src/qr-login/tickets.js';
import { Phone } from '../helpers/phone.js';
import { startTestServer } from '../helpers/server.js';

describe('scan-to-sign-in tickets', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer({
      qrLogin: { ticketSeconds: 60, confirmSeconds: 60, approvedSeconds: 10, maxTicketsPerIp: 1000, maxScansPerIp: 3 },
    });
  });
  beforeEach(() => endLimitWindows(server.db));
  after(() => server.close());

  const issue = () =>
    issueTicket(server.store, { interactionUid: 'uid-1', clientId: 'tv', scope: 'openid', ip: '127.0.0.1', ua: 'x', seconds: 60 });
  const phone = (sessionId: string) => ({ sessionId, accountId: server.userId, ip: '127.0.0.1', authTime: 1, amr: ['pwd'] });
  /** A live oidc-provider session for `sessionId` (what the approving phone holds). */
  const live = (sessionId: string) => liveSession(server.db, sessionId, server.userId);

  it('stores only the hash of the ticket', async () => {
    const t = await issue();
    assert.ok(!JSON.stringify(await server.db('qr_tickets').select()).includes(t.secret));
  });

  it('of 20 phones claiming at once, exactly one claims the ticket', async () => {
    const t = await issue();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => claim(server.store, t.id, phone(`phone-${i}`), 60)));
    assert.equal(results.filter(Boolean).length, 1);
  });

  it('only the claiming phone decides, once; only this sign-in uses it, once, while the phone session lives', async () => {
    const t = await issue();
    assert.ok(await claim(server.store, t.id, phone('mine'), 60));
    assert.equal(await decide(server.store, t.id, phone('someone-else'), true, 10), undefined);
    const approvals = await Promise.all([
      decide(server.store, t.id, phone('mine'), true, 10),
      decide(server.store, t.id, phone('mine'), false, 10),
    ]);
    assert.equal(approvals.filter(Boolean).length, 1);
    const approved = approvals[0] !== undefined;
    assert.equal(await use(server.store, t.id, 'uid-1'), undefined, 'no live session for the approving phone: refused');
    await live('mine');
    const uses = await Promise.all([
      use(server.store, t.id, 'other-uid'),
      use(server.store, t.id, 'uid-1'),
      use(server.store, t.id, 'uid-1'),
    ]);
    assert.equal(uses.filter(Boolean).length, approved ? 1 : 0);
    const replay = phoneView(await ticketBySecret(server.store, t.secret), 'mine');
    assert.equal(replay.ok, false);
  });

  it('an approved ticket dies when the approving session ends, and within seconds of approval', async () => {
    const t = await issue();
    await live('phone-a');
    assert.ok(await decide(server.store, t.id, phone('phone-a'), true, 10));
    // The phone signs out: its session is destroyed, as oidc-provider destroys it.
    await server.provider().Session.adapter.destroy('phone-a');
    assert.equal(await use(server.store, t.id, 'uid-1'), undefined, 'the phone signed out: the approval is void');

    const u = await issue();
    await live('phone-b');
    assert.ok(await decide(server.store, u.id, phone('phone-b'), true, 10));
    // Approval ages past its life (the ticket's expiry moves to the past).
    await expireTicket(server.db, u.id);
    assert.equal(await use(server.store, u.id, 'uid-1'), undefined);
  });

  it('a rotated ticket can no longer be claimed or decided', async () => {
    const t = await issue();
    assert.equal(await retire(server.store, t.id, 'uid-1'), true);
    assert.equal(await claim(server.store, t.id, phone('p'), 60), undefined);
    assert.equal(await decide(server.store, t.id, phone('p'), true, 10), undefined);
    const view = phoneView(await ticketBySecret(server.store, t.secret), 'p');
    assert.deepEqual([view.ok, !view.ok && view.reason], [false, 'expired']);
  });

  it('opening the ticket link claims nothing; limits scans per address and protects decisions with CSRF', async () => {
    const phoneBrowser = new Phone();
    let page = await phoneBrowser.request(`${server.publicUrl}/account/devices`);
    page = await phoneBrowser.submit(page, { username: 'alice', password: 'correct horse battery staple' });
    const t = await issue();
    const confirm = await phoneBrowser.request(`${server.publicUrl}/q/${t.secret}`);
    assert.equal(confirm.status, 200);
    const row = await server.db('qr_tickets').first('state', 'account_id').where({ id: t.id });
    assert.deepEqual(row, { state: 'issued', account_id: null }, 'a GET (a link previewer, a prefetch) changes nothing');
    const forged = await phoneBrowser.submit(confirm, { decision: 'approve', csrf: 'forged' });
    assert.equal(forged.status, 403);
    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await phoneBrowser.request(`${server.publicUrl}/q/${'x'.repeat(43)}`)).status);
    assert.deepEqual(statuses, [404, 404, 429]);
  });
});
