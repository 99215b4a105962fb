import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { createClient } from '../../src/admin/clients.js';
import { launchChromium, phoneContext } from '../helpers/browser.js';
import { signature } from '../../src/ops/reports.js';
import { Phone } from '../helpers/phone.js';
import { adminFetch, PASSWORD, postForm, redeem, startTestServer } from '../helpers/server.js';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const SECRET = 'webhook-secret-0123456789abcdef';

/**
 * A local webhook receiver that hands over each delivery as it arrives (tests wait on it, never on the clock). It
 * refuses the first `failFirst` attempts (503), keeping them in `refused`.
 */
async function receiver(failFirst = 0) {
  const deliveries: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  const refused: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  const waiting: Array<() => void> = [];
  let failures = failFirst;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', () => {
      if (failures > 0) {
        failures -= 1;
        refused.push({ headers: req.headers, body });
        res.writeHead(503).end();
        return;
      }
      deliveries.push({ headers: req.headers, body });
      res.writeHead(204).end();
      for (const w of waiting.splice(0)) w();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    deliveries,
    refused,
    next: () => new Promise<void>((r) => waiting.push(r)),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('cross-device policies: proximity, device flow scopes, "I didn\'t start this"', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let hook: Awaited<ReturnType<typeof receiver>>;
  const tv = { 'x-forwarded-for': '203.0.113.10' };
  const nearPhone = { 'x-forwarded-for': '203.0.113.77' };
  const farPhone = { 'x-forwarded-for': '198.51.100.5' };

  before(async () => {
    hook = await receiver(1);
    server = await startTestServer({ proxy: true, reports: { webhookUrl: hook.url, webhookSecret: SECRET, maxAttempts: 3 } });
    for (const [id, extra] of [
      ['tv-warn', {}],
      ['tv-off', { handoff_proximity: 'off' }],
      ['tv-near', { handoff_proximity: 'require' }],
      ['tv-narrow', { device_flow_scopes: ['openid', 'profile'] }],
    ] as const) {
      await createClient(server.store, server.provider(), {
        client_id: id,
        client_name: `TV ${id}`,
        token_endpoint_auth_method: 'none',
        grant_types: [DEVICE_GRANT],
        response_types: [],
        ...extra,
      });
    }
  });
  after(async () => {
    await server.close();
    await hook.close();
  });

  async function start(clientId: string, scope = 'openid profile') {
    const r = await postForm(`${server.publicUrl}/device/auth`, { client_id: clientId, scope }, tv);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json as { device_code: string; verification_uri_complete: string };
  }
  function phone(headers: Record<string, string>) {
    const p = new Phone();
    p.headers = headers;
    return p;
  }
  /** A phone signed in as alice (a report comes only from a signed-in phone). */
  async function signedIn(headers: Record<string, string>) {
    const p = phone(headers);
    await p.submit(await p.request(`${server.publicUrl}/account/devices`), { username: 'alice', password: PASSWORD });
    return p;
  }

  it('warn (the default) says plainly, before the buttons, that the device is on another network; off says nothing', async () => {
    const far = await phone(farPhone).request((await start('tv-warn')).verification_uri_complete);
    const warning = far.html.indexOf('data-field="network"');
    assert.ok(warning > 0 && warning < far.html.indexOf('name="confirm"'), 'the warning comes before the buttons');
    assert.match(far.html, /different network from your phone/);
    const near = await phone(nearPhone).request((await start('tv-warn')).verification_uri_complete);
    assert.doesNotMatch(near.html, /data-field="network"/, 'same /24: no warning');
    const off = await phone(farPhone).request((await start('tv-off')).verification_uri_complete);
    assert.doesNotMatch(off.html, /data-field="network"/);
    assert.match(off.html, /name="confirm"/);
  });

  it('require refuses approval from another network: Decline only, a forged Approve is refused, the device hears access_denied on decline', async () => {
    const dc = await start('tv-near');
    const far = phone(farPhone);
    const page = await far.approveDevice(dc.verification_uri_complete);
    assert.match(page.html, /only be approved from a phone on the same network/);
    assert.doesNotMatch(page.html, /name="confirm"/, 'no Approve button');
    assert.match(page.html, /name="abort"/);
    const forged = await far.submit(page, { confirm: 'yes' });
    assert.equal(forged.status, 403);
    assert.equal((await redeem(server.publicUrl, dc.device_code, 'tv-near')).json.error, 'authorization_pending', 'nothing changed');
    await far.submit(await far.request(dc.verification_uri_complete), { abort: 'yes' });
    assert.equal((await redeem(server.publicUrl, dc.device_code, 'tv-near')).json.error, 'access_denied');

    // From the device's own network it works, and the audit trail records both addresses and that they matched.
    const ok = await start('tv-near');
    assert.match((await phone(nearPhone).approveDevice(ok.verification_uri_complete)).html, /Device connected/);
    assert.equal((await redeem(server.publicUrl, ok.device_code, 'tv-near')).status, 200);
    const events = (await (await adminFetch(server, 'GET', '/admin/audit?type=approved&limit=1')).json()) as Array<Record<string, unknown>>;
    assert.deepEqual(
      { device: events[0]?.device_ip, actor: events[0]?.actor_ip, detail: events[0]?.detail },
      { device: '203.0.113.10', actor: '203.0.113.77', detail: { sameNetwork: true } },
    );
  });

  it('device_flow_scopes refuses anything else at /device/auth with invalid_scope, before a code exists', async () => {
    const refused = await postForm(`${server.publicUrl}/device/auth`, { client_id: 'tv-narrow', scope: 'openid email' }, tv);
    assert.equal(refused.status, 400);
    assert.equal(refused.json.error, 'invalid_scope');
    assert.equal(refused.json.device_code, undefined);
    assert.equal((await postForm(`${server.publicUrl}/device/auth`, { client_id: 'tv-narrow', scope: 'openid profile' }, tv)).status, 200);
    assert.equal(
      (await postForm(`${server.publicUrl}/device/auth`, { client_id: 'tv-narrow' }, tv)).status,
      200,
      'the default openid is allowed',
    );
    const bad = await adminFetch(server, 'POST', '/admin/clients', {
      client_id: 'x1',
      grant_types: [DEVICE_GRANT],
      response_types: [],
      token_endpoint_auth_method: 'none',
      device_flow_scopes: 'openid',
    });
    assert.equal(bad.status, 400);
    const badProximity = await adminFetch(server, 'POST', '/admin/clients', {
      client_id: 'x2',
      grant_types: [DEVICE_GRANT],
      response_types: [],
      token_endpoint_auth_method: 'none',
      handoff_proximity: 'always',
    });
    assert.equal(badProximity.status, 400);
  });

  it('"I didn\'t start this" denies at once, says nothing was shared, and reaches the audit trail, the metrics and a signed webhook', async () => {
    const dc = await start('tv-warn');
    const victim = await signedIn(farPhone);
    victim.userAgent = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1';
    const page = await victim.request(dc.verification_uri_complete);
    assert.match(page.html, /I didn’t start this/);
    const arrived = hook.next();
    const done = await victim.submit(page, { report: 'yes' });
    assert.match(done.html, /nothing was shared/);
    assert.equal((await redeem(server.publicUrl, dc.device_code, 'tv-warn')).json.error, 'access_denied');

    const reports = (await (await adminFetch(server, 'GET', '/admin/audit?type=reported')).json()) as Array<Record<string, unknown>>;
    assert.equal(reports[0]?.action, 'device.reported');
    assert.deepEqual(
      [reports[0]?.client_id, reports[0]?.device_ip, reports[0]?.actor_ip, reports[0]?.account_id],
      ['tv-warn', '203.0.113.10', '198.51.100.5', server.userId],
      'the report names the account that made it',
    );
    const metrics = await (await fetch(`${server.adminUrl}/metrics`)).text();
    assert.match(metrics, /handoff_reports_total\{kind="device",client="tv-warn"\} 1/);

    // The first delivery is refused (503); the retry arrives, signed, with the same event id.
    await arrived;
    const d = hook.deliveries[0];
    assert.ok(d);
    const body = JSON.parse(d.body) as Record<string, unknown>;
    assert.deepEqual(
      [body.type, body.client_id, body.account_id, body.device_ip, body.phone_ip],
      ['device.reported', 'tv-warn', server.userId, '203.0.113.10', '198.51.100.5'],
    );
    const ts = String(d.headers['x-handoff-timestamp']);
    assert.equal(d.headers['x-handoff-signature'], signature(SECRET, ts, d.body));
    const first = hook.refused[0];
    assert.ok(first, 'the first attempt was made and refused');
    assert.equal(d.headers['x-handoff-event-id'], body.id);
    assert.equal(first.headers['x-handoff-event-id'], body.id, 'a retry carries the event id of the first attempt');

    // A report locks nobody out: the same phone approves the next code.
    const next = await start('tv-warn');
    assert.match((await victim.approveDevice(next.verification_uri_complete)).html, /Device connected/);
  });
});

describe('cross-device policies in Chromium: the phone sees the network warning and reports a code it did not start', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;
  before(async () => {
    server = await startTestServer({ proxy: true });
    await createClient(server.store, server.provider(), {
      client_id: 'tv-browser',
      client_name: 'Hotel TV',
      token_endpoint_auth_method: 'none',
      grant_types: [DEVICE_GRANT],
      response_types: [],
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser.close();
    await server.close();
  });

  it('warns before the buttons on another network, and "I didn\'t start this" ends it with a plain explanation', async () => {
    const started = await postForm(
      `${server.publicUrl}/device/auth`,
      { client_id: 'tv-browser', scope: 'openid' },
      { 'x-forwarded-for': '203.0.113.10' },
    );
    const dc = started.json as { device_code: string; verification_uri_complete: string };
    const ctx = await phoneContext(browser);
    await ctx.setExtraHTTPHeaders({ 'x-forwarded-for': '198.51.100.5' });
    try {
      const page = await ctx.newPage();
      // A report comes from a phone signed in to an account.
      await page.goto(`${server.publicUrl}/account/devices`);
      await page.getByLabel('Username').fill('alice');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.getByRole('heading', { name: 'Your devices' }).waitFor();
      await page.goto(dc.verification_uri_complete);
      const warning = page.locator('[data-field="network"]');
      await warning.waitFor();
      assert.match(await warning.innerText(), /different network/);
      const [w, a] = [await warning.boundingBox(), await page.getByRole('button', { name: 'Yes, approve' }).boundingBox()];
      assert.ok(w && a && w.y < a.y, 'the warning is above the buttons');
      await page.getByRole('button', { name: 'I didn’t start this' }).click();
      await page.getByRole('heading', { name: 'Thanks for telling us' }).waitFor();
      assert.match(await page.locator('main').innerText(), /nothing was shared/);
    } finally {
      await ctx.close();
    }
    assert.equal((await redeem(server.publicUrl, dc.device_code, 'tv-browser')).json.error, 'access_denied');
    const reports = (await (await adminFetch(server, 'GET', '/admin/audit?type=reported')).json()) as Array<Record<string, unknown>>;
    assert.equal(reports[0]?.client_id, 'tv-browser');
  });
});
