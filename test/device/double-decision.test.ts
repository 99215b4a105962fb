import assert from 'node:assert/strict';
import { type Db, openDb } from '../../src/store/db.js';
import { sha256 } from '../../src/store/hash.js';
import { migrateLatest } from '../../src/store/migrate.js';
import { sharedDb, sharedEngine } from '../helpers/db.js';
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
const engines: Array<{ name: string; db: () => Promise<Db> }> = [{ name: 'shared', db: sharedDb }];
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
  let extra: Db | undefined;
  before(async () => {
    if (sharedEngine() === 'postgres' || process.env.TEST_DATABASE_URL || process.env.DATABASE_URL) {
      extra = await openDb({ dataDir: null });
      await migrateLatest(extra);
      engines.push({ name: 'pglite', db: async () => extra as Db });
    }
  });
  after(async () => {
    await extra?.destroy();
  });

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
});
