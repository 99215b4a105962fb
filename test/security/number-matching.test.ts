import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createUser } from '../../src/accounts/users.js';
import { createClient } from '../../src/admin/clients.js';
import { type DesktopLogin, desktopCompletes, desktopLogin, desktopNumber, hasQr, phoneDecides } from '../helpers/desktop.js';
import { endLimitWindows } from '../helpers/fixtures.js';
import { Phone } from '../helpers/phone.js';
import { DEVICE_GRANT, PASSWORD, postForm, redeem, startTestServer } from '../helpers/server.js';

const REDIRECT = 'https://rp.example.com/callback';

/**
 * Number matching (relay-resistant cross-device sign-in): the screen that asked shows a number once a phone has the
 * code, the phone offers three and only the right pick approves; a wrong pick declines for good and three of them
 * pause only that account's scans. On by default for desktop scans, opt-in for device codes.
 */
describe('security: number matching on both doors', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let rp: oidc.Configuration;
  let plain: oidc.Configuration;
  before(async () => {
    server = await startTestServer({ qrLogin: { maxTicketsPerIp: 1000, maxScansPerIp: 1000 } });
    await createUser(server.store, { username: 'bob', password: PASSWORD }, server.config.scrypt);
    const meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as oidc.ServerMetadata;
    const make = async (client_id: string, extra: Record<string, unknown> = {}) => {
      const c = await createClient(server.store, server.provider(), {
        client_id,
        client_name: client_id,
        redirect_uris: [REDIRECT],
        ...extra,
      });
      const conf = new oidc.Configuration(meta, client_id, String(c.client_secret));
      oidc.allowInsecureRequests(conf);
      return conf;
    };
    rp = await make('photo-app');
    plain = await make('old-app', { handoff_number_matching: false });
    for (const [id, extra] of [
      ['match-tv', { handoff_number_matching: true }],
      ['plain-tv', {}],
    ] as const) {
      await createClient(server.store, server.provider(), {
        client_id: id,
        client_name: id,
        token_endpoint_auth_method: 'none',
        grant_types: [DEVICE_GRANT],
        response_types: [],
        ...extra,
      });
    }
  });
  beforeEach(() => endLimitWindows(server.db));
  after(() => server.close());

  async function signedIn(username = 'alice') {
    const p = new Phone();
    await p.submit(await p.request(`${server.publicUrl}/account/devices`), { username, password: PASSWORD });
    return p;
  }
  async function scanPage(conf = rp) {
    const d = await desktopLogin(conf, REDIRECT);
    assert.ok(hasQr(d));
    return d;
  }
  const csrfTicket = (html: string) => ({
    csrf: /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '',
    ticket: /name="ticket" value="([^"]+)"/.exec(html)?.[1] ?? '',
  });
  const claim = (phone: Phone, fields: { csrf: string; ticket: string }) =>
    fetch(`${server.publicUrl}/q/claim`, {
      method: 'POST',
      body: new URLSearchParams(fields),
      headers: { cookie: [...phone.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
  const state = async (d: DesktopLogin) =>
    (await (
      await fetch(`${server.publicUrl}/interaction/${d.uid}/qr/events?ticket=${d.ticket}`, {
        headers: { accept: 'application/json', cookie: [...d.desktop.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
      })
    ).json()) as { state: string; number?: number; reason?: string };

  it('desktop: no number anywhere before the claim; then the desktop shows one, the phone gets three with it', async () => {
    const d = await scanPage();
    const phone = await signedIn();
    const page = await phone.request(d.qrUrl);
    assert.doesNotMatch(page.html, /name="pick"/, 'the page as served carries no number');
    assert.deepEqual(await state(d), { state: 'pending' }, 'the desktop has none either');
    const claimed = await claim(phone, csrfTicket(page.html));
    assert.equal(claimed.status, 200);
    const { choices } = (await claimed.json()) as { choices: number[] };
    assert.equal(new Set(choices).size, 3);
    for (const n of choices) assert.ok(n >= 10 && n <= 99);
    const shown = await state(d);
    assert.equal(shown.state, 'scanned');
    assert.ok(shown.number !== undefined && choices.includes(shown.number), 'the desktop’s number is one of the three');
  });

  it('desktop: the right number approves and the desktop signs in; approving without a number changes nothing', async () => {
    const d = await scanPage();
    const phone = await signedIn();
    const page = await phone.request(d.qrUrl);
    const fields = csrfTicket(page.html);
    await claim(phone, fields);
    const bare = await phone.request(`${server.publicUrl}/q/decide`, { form: { ...fields, decision: 'approve' } });
    assert.equal(bare.status, 400, 'Approve without the number is refused');
    assert.equal((await state(d)).state, 'scanned', 'and changes nothing');
    const right = await phone.request(`${server.publicUrl}/q/decide`, {
      form: { ...fields, pick: String(await desktopNumber(d, server.publicUrl)) },
    });
    assert.match(right.html, /Computer signed in/);
    const back = await desktopCompletes(d, server.publicUrl);
    assert.ok(back.url.startsWith(REDIRECT), back.url);
  });

  it('desktop: a wrong number declines for good, says why, offers the report, and cannot be retried', async () => {
    const d = await scanPage();
    const phone = await signedIn();
    const page = await phone.request(d.qrUrl);
    const fields = csrfTicket(page.html);
    const { choices } = (await (await claim(phone, fields)).json()) as { choices: number[] };
    const number = await desktopNumber(d, server.publicUrl);
    const pick = choices.find((n) => n !== number) ?? 0;
    assert.ok(number !== undefined && pick !== number);
    const declined = await phone.request(`${server.publicUrl}/q/decide`, { form: { ...fields, pick: String(pick) } });
    assert.equal(declined.status, 409);
    assert.match(declined.html, /That isn’t the number on the computer/);
    assert.match(declined.html, /name="decision" value="report"/);
    assert.deepEqual(await state(d), { state: 'denied', reason: 'wrong_number' });
    const retry = await phone.request(`${server.publicUrl}/q/decide`, { form: { ...fields, pick: String(number) } });
    assert.notEqual(retry.status, 200, 'the right number after a wrong one approves nothing');
    assert.equal((await state(d)).state, 'denied');
    assert.equal((await desktopCompletes(d, server.publicUrl)).status, 400);
    // The report is what is left: recorded, naming the account.
    const reported = await phone.submit(declined, { decision: 'report' });
    assert.match(reported.html, /Thanks for telling us/);
  });

  it('desktop: three wrong picks pause that account’s scans, and nobody else’s', async () => {
    const alice = await signedIn();
    for (let i = 0; i < 3; i += 1) {
      const d = await scanPage();
      const page = await alice.request(d.qrUrl);
      const fields = csrfTicket(page.html);
      const { choices } = (await (await claim(alice, fields)).json()) as { choices: number[] };
      const number = await desktopNumber(d, server.publicUrl);
      await alice.request(`${server.publicUrl}/q/decide`, { form: { ...fields, pick: String(choices.find((n) => n !== number)) } });
    }
    const d = await scanPage();
    const paused = await claim(alice, csrfTicket((await alice.request(d.qrUrl)).html));
    assert.equal(paused.status, 429, 'alice’s phones are paused');
    assert.ok(Number(paused.headers.get('retry-after')) > 0);
    assert.equal((await state(d)).state, 'pending', 'the paused claim changed nothing');
    // bob scans the very same code, with no pause.
    const bob = await signedIn('bob');
    const decided = await phoneDecides(bob, d);
    assert.match(decided.html, /Computer signed in/);
  });

  it('desktop: a client that turned it off approves as before (Approve, no number)', async () => {
    const d = await scanPage(plain);
    const phone = await signedIn();
    const page = await phone.request(d.qrUrl);
    assert.match(page.html, /name="decision" value="approve"/);
    const fields = csrfTicket(page.html);
    assert.equal((await claim(phone, fields)).status, 204);
    assert.deepEqual(await state(d), { state: 'scanned' });
    const approved = await phone.request(`${server.publicUrl}/q/decide`, { form: { ...fields, decision: 'approve' } });
    assert.match(approved.html, /Computer signed in/);
  });

  async function deviceCode(clientId: string) {
    const r = await postForm(`${server.publicUrl}/device/auth`, { client_id: clientId, scope: 'openid' });
    return r.json as { device_code: string; user_code: string; verification_uri_complete: string; status_uri: string };
  }
  const status = async (uri: string) =>
    (await (await fetch(uri, { headers: { accept: 'application/json' } })).json()) as { state: string; number?: number };

  it('device code, opted in: the stream gets the number once opened, the phone asks for it, the right pick approves', async () => {
    const dc = await deviceCode('match-tv');
    assert.deepEqual(await status(dc.status_uri), { state: 'pending' });
    const phone = await signedIn();
    const page = await phone.request(dc.verification_uri_complete);
    const buttons = [...page.html.matchAll(/name="confirm" value="(\d\d)"/g)].map((m) => Number(m[1]));
    assert.equal(buttons.length, 3);
    const shown = await status(dc.status_uri);
    assert.equal(shown.state, 'scanned');
    assert.ok(shown.number !== undefined && buttons.includes(shown.number));
    assert.deepEqual(
      [...(await phone.request(dc.verification_uri_complete)).html.matchAll(/name="confirm" value="(\d\d)"/g)].map((m) => Number(m[1])),
      buttons,
      'the same three on a reload',
    );
    // Approve without the number (the library would take any confirm) is refused and changes nothing.
    const bare = await phone.submit(page, { confirm: 'yes' });
    assert.equal(bare.status, 400);
    assert.equal((await redeem(server.publicUrl, dc.device_code, 'match-tv')).json.error, 'authorization_pending');
    const done = await phone.submit(await phone.request(dc.verification_uri_complete), { confirm: String(shown.number) });
    assert.match(done.html, /Device connected/);
    assert.equal((await redeem(server.publicUrl, dc.device_code, 'match-tv')).status, 200);
  });

  it('device code, opted in: a wrong pick declines (the device hears access_denied) and says why', async () => {
    const dc = await deviceCode('match-tv');
    const phone = await signedIn();
    const page = await phone.request(dc.verification_uri_complete);
    const number = (await status(dc.status_uri)).number;
    const pick = [...page.html.matchAll(/name="confirm" value="(\d\d)"/g)].map((m) => m[1]).find((n) => Number(n) !== number);
    const declined = await phone.submit(page, { confirm: String(pick) });
    assert.equal(declined.status, 409);
    assert.match(declined.html, /That isn’t the number on the device/);
    assert.equal((await redeem(server.publicUrl, dc.device_code, 'match-tv')).json.error, 'access_denied');
    const reported = await phone.submit(declined, { report: 'yes' });
    assert.match(reported.html, /Thanks for telling us/);
  });

  it('device code without the setting: no number on the stream, Approve as before', async () => {
    const dc = await deviceCode('plain-tv');
    const phone = await signedIn();
    const page = await phone.request(dc.verification_uri_complete);
    assert.match(page.html, /name="confirm" value="yes"/);
    assert.deepEqual(await status(dc.status_uri), { state: 'scanned' });
    assert.match((await phone.submit(page, { confirm: 'yes' })).html, /Device connected/);
  });
});
