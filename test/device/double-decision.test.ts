import assert from 'node:assert/strict';
import { sha256 } from '../../src/store/hash.js';
import { agePoll } from '../helpers/fixtures.js';
import { bothEngines, type Engine, sharedDb, sharedEngine } from '../helpers/db.js';
import { type Page, Phone } from '../helpers/phone.js';
import { adminFetch, deviceAuthorization, PASSWORD, redeem, startTestServer } from '../helpers/server.js';

/**
 * One device code decided twice at the same instant. oidc-provider reads a code, checks it is undecided, then saves
 * it; two requests that read it together both passed the check, each made a grant, and the code kept the one that
 * saved last while "Your devices" listed the other: ending that entry left the device's tokens working. A decision
 * is now recorded once, by a write that checks the row it replaces (store/oidc.ts `decide`); whatever the race, what
 * the device redeems is what the account page lists and ends. Runs on the shared database, and also on PGlite when
 * that is PostgreSQL (the race needs two connections to show, PGlite has one).
 */
const ROUNDS = 8;

/** What a final page says happened (its heading): the device connected, is signed in already, or the code was used. */
const HEADINGS: Record<string, string> = {
  'Device connected': 'success',
  'This device is signed in': 'approved',
  'Code already used': 'used',
};
const outcomeOf = (p: Page) => {
  const heading = /<h1[^>]*>([^<]*)</.exec(p.html)?.[1] ?? '';
  return HEADINGS[heading] ?? `status ${p.status}: ${heading}`;
};

/** The confirmation page of a fresh code on a phone. */
async function confirmation(phone: Phone, verificationUriComplete: string): Promise<Page> {
  let page = await phone.request(verificationUriComplete);
  if (page.html.includes('Submitting Callback')) page = await phone.submit(page);
  assert.match(page.html, /name="confirm"/, 'the confirmation page is shown');
  return page;
}

/** After the race: if the device gets tokens, ending the entry on the account page ends them. */
async function endsWithTheEntry(base: string, phone: Phone, deviceCode: string, label: string): Promise<'approved' | 'denied'> {
  const tokens = await redeem(base, deviceCode);
  if (tokens.status !== 200) {
    assert.equal(tokens.json.error, 'access_denied', `${label}: an undecided race is a decline, not ${JSON.stringify(tokens.json)}`);
    return 'denied';
  }
  const bearer = { authorization: `Bearer ${tokens.json.access_token}` };
  assert.equal((await fetch(`${base}/me`, { headers: bearer })).status, 200, `${label}: the tokens work`);
  const listed = await phone.request(`${base}/account/devices`);
  assert.ok(listed.html.includes(`data-approval="${sha256(deviceCode)}"`), `${label}: the approval is listed`);
  await phone.revokeOnAccount(base, sha256(deviceCode));
  assert.equal((await fetch(`${base}/me`, { headers: bearer })).status, 401, `${label}: ending the entry ends the access token`);
  const refreshed = await fetch(`${base}/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: String(tokens.json.refresh_token), client_id: 'tv' }),
  });
  if (tokens.json.refresh_token) assert.equal(refreshed.status, 400, `${label}: and the refresh token`);
  return 'approved';
}

describe('one device code decided twice at once', () => {
  let engines: Engine[] = [];
  let closeEngines = async () => {};
  before(async () => {
    ({ engines, close: closeEngines } = await bothEngines());
  });
  after(() => closeEngines());

  it('a double-tapped Approve on a signed-in phone: one approval, and ending it on "Your devices" ends the tokens', async () => {
    for (const engine of engines) {
      const server = await startTestServer({}, await engine.db());
      try {
        const phone = new Phone();
        await phone.approveDevice((await deviceAuthorization(server.publicUrl)).verification_uri_complete);
        for (let round = 0; round < ROUNDS; round += 1) {
          const label = `${engine.name} round ${round}`;
          const dc = await deviceAuthorization(server.publicUrl, 'tv', 'openid offline_access');
          const page = await confirmation(phone, dc.verification_uri_complete);
          const pages = await Promise.all([phone.submit(page, { confirm: 'yes' }), phone.submit(page, { confirm: 'yes' })]);
          const outcomes = pages.map(outcomeOf);
          assert.ok(outcomes.includes('success'), `${label}: one tap approves (${outcomes.join(', ')})`);
          assert.ok(
            outcomes.every((o) => ['success', 'approved', 'used'].includes(o)),
            `${label}: the other tap is told the device is signed in or the code is used (${outcomes.join(', ')})`,
          );
          assert.equal(await endsWithTheEntry(server.publicUrl, phone, dc.device_code, label), 'approved');
        }
      } finally {
        await server.close();
      }
    }
  });

  it('the same double tap with the second sent another way the library accepts (chunked, /DEVICE/, confirm=1): still one approval', async () => {
    for (const engine of engines) {
      const server = await startTestServer({}, await engine.db());
      try {
        const phone = new Phone();
        await phone.approveDevice((await deviceAuthorization(server.publicUrl)).verification_uri_complete);
        for (let round = 0; round < ROUNDS; round += 1) {
          const label = `${engine.name} round ${round}`;
          const dc = await deviceAuthorization(server.publicUrl, 'tv', 'openid offline_access');
          const page = await confirmation(phone, dc.verification_uri_complete);
          // The second tab: the same browser session, its form sent chunked to the path in other case with a slash.
          const tab = new Phone();
          for (const [name, value] of phone.cookies) tab.cookies.set(name, value);
          tab.chunkedBodies = true;
          const respelled = { ...page, html: page.html.replace(/action="([^"]*)\/device"/, 'action="$1/DEVICE/"') };
          assert.notEqual(respelled.html, page.html, 'the form is sent to another spelling of its path');
          const pages = await Promise.all([phone.submit(page, { confirm: 'yes' }), tab.submit(respelled, { confirm: '1' })]);
          const outcomes = pages.map(outcomeOf);
          assert.ok(outcomes.includes('success'), `${label}: one tap approves (${outcomes.join(', ')})`);
          assert.ok(
            outcomes.every((o) => ['success', 'approved', 'used'].includes(o)),
            `${label}: the other is told the device is signed in or the code is used (${outcomes.join(', ')})`,
          );
          assert.equal(await endsWithTheEntry(server.publicUrl, phone, dc.device_code, label), 'approved');
        }
      } finally {
        await server.close();
      }
    }
  });

  it('Approve and Decline from two tabs at once: one decision, and an approval is one that "Your devices" ends', async () => {
    for (const engine of engines) {
      const server = await startTestServer({}, await engine.db());
      try {
        const phone = new Phone();
        await phone.approveDevice((await deviceAuthorization(server.publicUrl)).verification_uri_complete);
        const seen = new Set<string>();
        for (let round = 0; round < ROUNDS; round += 1) {
          const label = `${engine.name} round ${round}`;
          const dc = await deviceAuthorization(server.publicUrl, 'tv', 'openid offline_access');
          const page = await confirmation(phone, dc.verification_uri_complete);
          await Promise.all([phone.submit(page, { confirm: 'yes' }), phone.submit(page, { abort: 'yes' })]);
          seen.add(await endsWithTheEntry(server.publicUrl, phone, dc.device_code, label));
        }
        assert.ok(seen.size > 0);
      } finally {
        await server.close();
      }
    }
  });

  it('"I didn\'t start this" racing an Approve from another tab: the report always counts, and its page says if the sign-in went through', async () => {
    for (const engine of engines) {
      const server = await startTestServer({ reports: { maxPerAddress: 50, maxPerAccount: 50 } }, await engine.db());
      try {
        const reports = async () => ((await (await adminFetch(server, 'GET', '/admin/audit?type=reported')).json()) as unknown[]).length;
        const phone = new Phone();
        await phone.approveDevice((await deviceAuthorization(server.publicUrl)).verification_uri_complete);
        for (let round = 0; round < ROUNDS; round += 1) {
          const label = `${engine.name} round ${round}`;
          const before = await reports();
          const dc = await deviceAuthorization(server.publicUrl, 'tv', 'openid offline_access');
          const page = await confirmation(phone, dc.verification_uri_complete);
          const [, reported] = await Promise.all([phone.submit(page, { confirm: 'yes' }), phone.submit(page, { report: 'yes' })]);
          assert.equal(
            await reports(),
            before + 1,
            `${label}: the report is recorded (${outcomeOf(reported)} ${/<p>([^<]*)</.exec(reported.html)?.[1]})`,
          );
          const outcome = await endsWithTheEntry(server.publicUrl, phone, dc.device_code, label);
          assert.match(
            reported.html,
            outcome === 'approved' ? /had already been approved/ : /nothing was shared/,
            `${label}: the report's page matches what happened (${outcome})`,
          );
        }
      } finally {
        await server.close();
      }
    }
  });

  it('a sign-in submitted twice on the way to an approval: one grant, the one "Your devices" ends', async () => {
    for (const engine of engines) {
      const server = await startTestServer({}, await engine.db());
      try {
        for (let round = 0; round < ROUNDS / 2; round += 1) {
          const label = `${engine.name} round ${round}`;
          const phone = new Phone();
          const dc = await deviceAuthorization(server.publicUrl, 'tv', 'openid offline_access');
          const signIn = await phone.submit(await confirmation(phone, dc.verification_uri_complete), { confirm: 'yes' });
          assert.match(signIn.html, /name="password"/, `${label}: a signed-out phone is asked to sign in`);
          const fields = { username: 'alice', password: PASSWORD };
          const pages = await Promise.all([phone.submit(signIn, fields), phone.submit(signIn, fields)]);
          const outcomes = pages.map(outcomeOf);
          assert.ok(outcomes.includes('success'), `${label}: the sign-in approves (${outcomes.join(', ')})`);
          assert.ok(
            pages.every((p) => p.status < 500),
            `${label}: no server error (${outcomes.join(', ')})`,
          );
          assert.equal(await endsWithTheEntry(server.publicUrl, phone, dc.device_code, label), 'approved');
        }
      } finally {
        await server.close();
      }
    }
  });

  it('an approval is written with its record or not at all: tokens are never issued before the approval is listed (PostgreSQL)', async () => {
    // Two connections are needed to see between two statements; PGlite has one, so this runs where the shared
    // database is PostgreSQL (CI's). The record's insert is made to wait on a lock the test holds.
    const db = await sharedDb();
    if (sharedEngine() !== 'postgres') return;
    const server = await startTestServer({}, db);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const waitingFor = async (locktype: string) =>
      (await db.raw(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = ? AND NOT granted`, [locktype])).rows[0].n > 0;
    try {
      const phone = new Phone();
      await phone.approveDevice((await deviceAuthorization(server.publicUrl)).verification_uri_complete);
      await db.raw(`CREATE FUNCTION test_hold_approval() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NEW; END $$`);
      await db.raw(`CREATE TRIGGER test_hold BEFORE INSERT ON device_approvals FOR EACH ROW EXECUTE FUNCTION test_hold_approval()`);
      let locked = () => {};
      const lockTaken = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const holder = db.transaction(async (trx) => {
        await trx.raw('SELECT pg_advisory_xact_lock(4242)');
        locked();
        await held;
      });
      await lockTaken;
      const dc = await deviceAuthorization(server.publicUrl, 'tv', 'openid offline_access');
      const approving = phone.submit(await confirmation(phone, dc.verification_uri_complete), { confirm: 'yes' });
      // The events that matter, in turn (each bounded): the record waits for the test's lock; then the device's token
      // request either waits for the approval's statement (its row is locked) or has come back.
      for (let i = 0; i < 500 && !(await waitingFor('advisory')); i += 1) await new Promise((r) => setTimeout(r, 10));
      const listed = async () => (await db('device_approvals').where({ id: sha256(dc.device_code) })).length > 0;
      let answered = false;
      const redeemed = redeem(server.publicUrl, dc.device_code).then(async (r) => {
        answered = true;
        return { r, listed: await listed() };
      });
      for (let i = 0; i < 500 && !answered && !(await waitingFor('transactionid')); i += 1) await new Promise((r) => setTimeout(r, 10));
      release();
      await holder;
      const { r: first, listed: listedThen } = await redeemed;
      // The poll reads the code without waiting for the approval's statement: pending until it commits, never tokens.
      if (first.status === 200) assert.ok(listedThen, 'when the tokens were issued, the approval was listed');
      else assert.equal(first.json.error, 'authorization_pending', JSON.stringify(first.json));
      assert.equal(outcomeOf(await approving), 'success');
      await agePoll(db, dc.device_code, 60);
      const r = first.status === 200 ? first : await redeem(server.publicUrl, dc.device_code);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      await phone.revokeOnAccount(server.publicUrl, sha256(dc.device_code));
      const me = await fetch(`${server.publicUrl}/me`, { headers: { authorization: `Bearer ${r.json.access_token}` } });
      assert.equal(me.status, 401, 'ending the entry ends the tokens');
    } finally {
      release();
      await db.raw('DROP TRIGGER IF EXISTS test_hold ON device_approvals');
      await db.raw('DROP FUNCTION IF EXISTS test_hold_approval()');
      await server.close();
    }
  });

  it('an approval whose record cannot be written is not an approval: the device is refused, nothing is listed', async () => {
    for (const engine of engines) {
      const db = await engine.db();
      const server = await startTestServer({}, db);
      try {
        const phone = new Phone();
        await phone.approveDevice((await deviceAuthorization(server.publicUrl)).verification_uri_complete);
        await db.raw(`CREATE FUNCTION test_refuse_approval() RETURNS trigger LANGUAGE plpgsql AS
          $$ BEGIN RAISE EXCEPTION 'the record cannot be written'; END $$`);
        await db.raw(`CREATE TRIGGER test_refuse BEFORE INSERT ON device_approvals FOR EACH ROW EXECUTE FUNCTION test_refuse_approval()`);
        const dc = await deviceAuthorization(server.publicUrl, 'tv', 'openid offline_access');
        await phone.submit(await confirmation(phone, dc.verification_uri_complete), { confirm: 'yes' });
        const tokens = await redeem(server.publicUrl, dc.device_code);
        assert.notEqual(tokens.status, 200, `${engine.name}: no tokens (${JSON.stringify(tokens.json)})`);
        const listed = await phone.request(`${server.publicUrl}/account/devices`);
        assert.ok(!listed.html.includes(`data-approval="${sha256(dc.device_code)}"`), `${engine.name}: nothing listed`);
      } finally {
        await db.raw('DROP TRIGGER IF EXISTS test_refuse ON device_approvals');
        await db.raw('DROP FUNCTION IF EXISTS test_refuse_approval()');
        await server.close();
      }
    }
  });
});
