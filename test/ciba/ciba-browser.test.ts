import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { createClient } from '../../src/admin/clients.js';
import { sha256 } from '../../src/store/hash.js';
import { launchChromium, phoneContext } from '../helpers/browser.js';
import { PASSWORD, postForm, startTestServer } from '../helpers/server.js';

/**
 * Backchannel approval on a phone in Chromium: the account page is open when the app asks, and the request appears on
 * it by itself (its event stream, no reload by the person); the decision page says who asks and the binding message;
 * Approve answers a polling app and pings a ping-mode app's endpoint (a real HTTP server on loopback); Decline answers
 * the polling app access_denied. A flood from one app shows once on the open page and is then refused; a request that
 * expired is gone from the page and its app is told expired_token.
 */
const CIBA = 'urn:openid:params:grant-type:ciba';

describe('backchannel approval on a phone (Chromium)', function () {
  this.timeout(120_000);
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;
  let notify: Server;
  let pinged: ((id: string) => void) | undefined;
  const secrets: Record<string, string> = {};

  before(async () => {
    notify = createServer(async (req, res) => {
      let text = '';
      for await (const chunk of req) text += String(chunk);
      pinged?.(String((JSON.parse(text || '{}') as { auth_req_id?: string }).auth_req_id));
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => notify.listen(0, '127.0.0.1', r));
    server = await startTestServer();
    for (const [id, name, extra] of [
      ['desk', 'Help Desk', { backchannel_token_delivery_mode: 'poll' }],
      [
        'till',
        'Shop Till',
        {
          backchannel_token_delivery_mode: 'ping',
          backchannel_client_notification_endpoint: `https://127.0.0.1:${(notify.address() as AddressInfo).port}/ping`,
        },
      ],
    ] as const) {
      const c = await createClient(server.store, server.provider(), {
        client_id: id,
        client_name: name,
        grant_types: [CIBA],
        response_types: [],
        ...extra,
      });
      secrets[id] = String(c.client_secret);
    }
    browser = await launchChromium();
  });
  after(async () => {
    await browser.close();
    await server.close();
    await new Promise<void>((r) => notify.close(() => r()));
  });

  const ask = (client: string, fields: Record<string, string>) =>
    postForm(
      `${server.issuer}/backchannel`,
      { scope: 'openid profile', login_hint: 'alice', ...fields },
      {
        authorization: `Basic ${Buffer.from(`${client}:${secrets[client]}`).toString('base64')}`,
      },
    );

  /** Alice's phone on her account page, signed in with her password. */
  async function signedInPhone() {
    const ctx = await phoneContext(browser);
    const page = await ctx.newPage();
    await page.goto(`${server.publicUrl}/account/devices`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Your devices' }).waitFor();
    return { ctx, page };
  }

  it('the request appears on the open account page by itself; the phone approves; the polling app gets tokens, the ping app is pinged', async () => {
    const ctx = await phoneContext(browser);
    const page = await ctx.newPage();
    // Every script of the account page runs (they share the page's global scope: one error stops the next script).
    const scriptErrors: string[] = [];
    page.on('pageerror', (err) => scriptErrors.push(err.message));
    await page.goto(`${server.publicUrl}/account/devices`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Your devices' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Waiting for you' }).count(), 0);
    assert.deepEqual(scriptErrors, []);

    // The app asks while the page is open: the stream brings it in.
    const asked = await ask('desk', { binding_message: 'Ticket 5521' });
    assert.equal(asked.status, 200, JSON.stringify(asked.json));
    await page.getByRole('heading', { name: 'Waiting for you' }).waitFor();
    await page.getByRole('link', { name: 'Review' }).click();
    await page.getByRole('heading', { name: 'Approve Help Desk?' }).waitFor();
    assert.equal(await page.locator('[data-field="binding-message"]').innerText(), 'Ticket 5521');
    const decline = await page.getByRole('button', { name: 'Decline' }).boundingBox();
    const approve = await page.getByRole('button', { name: 'Approve' }).boundingBox();
    assert.ok(decline && approve && Math.abs(decline.height - approve.height) < 1, 'Decline is as prominent as Approve');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('heading', { name: 'Approved' }).waitFor();
    const tokens = await postForm(
      `${server.issuer}/token`,
      { grant_type: CIBA, auth_req_id: String(asked.json.auth_req_id) },
      { authorization: `Basic ${Buffer.from(`desk:${secrets.desk}`).toString('base64')}` },
    );
    assert.equal(tokens.status, 200, JSON.stringify(tokens.json));

    // A ping-mode app: its endpoint hears of the approval.
    const ping = new Promise<string>((resolve) => {
      pinged = resolve;
    });
    const till = await ask('till', { client_notification_token: 'till-token-1' });
    await page.goto(`${server.publicUrl}/account/devices`);
    await page.getByRole('link', { name: 'Review' }).click();
    await page.getByRole('button', { name: 'Approve' }).click();
    assert.equal(await ping, String(till.json.auth_req_id));
    assert.deepEqual(scriptErrors, [], 'no page script failed');
    await ctx.close();
  });

  it('Decline on the phone: the polling app is told access_denied', async () => {
    const { ctx, page } = await signedInPhone();

    const asked = await ask('desk', { binding_message: 'Refund 77' });
    assert.equal(asked.status, 200, JSON.stringify(asked.json));
    await page.getByRole('heading', { name: 'Waiting for you' }).waitFor();
    await page.getByRole('link', { name: 'Review' }).click();
    assert.equal(await page.locator('[data-field="binding-message"]').innerText(), 'Refund 77');
    await page.getByRole('button', { name: 'Decline' }).click();
    await page.getByRole('heading', { name: 'Declined' }).waitFor();
    const answer = await postForm(
      `${server.issuer}/token`,
      { grant_type: CIBA, auth_req_id: String(asked.json.auth_req_id) },
      { authorization: `Basic ${Buffer.from(`desk:${secrets.desk}`).toString('base64')}` },
    );
    assert.equal(answer.status, 400, JSON.stringify(answer.json));
    assert.equal(answer.json.error, 'access_denied');
    await ctx.close();
  });

  it('a flood from one app shows once on the open page and is then refused; an expired request leaves the page', async () => {
    await server.db('rate_counters').delete();
    const { ctx, page } = await signedInPhone();

    const ids: string[] = [];
    for (let i = 0; i < server.config.ciba.maxPerClientAndUser; i += 1) {
      const asked = await ask('desk', { binding_message: `Order ${i}` });
      assert.equal(asked.status, 200, JSON.stringify(asked.json));
      ids.push(String(asked.json.auth_req_id));
    }
    const flooded = await ask('desk', { binding_message: 'Order flood' });
    assert.equal(flooded.status, 429, 'past the limit per app and person');
    assert.equal(flooded.json.error, 'slow_down');
    await page.getByRole('heading', { name: 'Waiting for you' }).waitFor();
    await page.reload();
    assert.equal(await page.locator('[data-ciba-request]').count(), 1, 'the app is listed once, however often it asked');
    await page.getByRole('link', { name: 'Review' }).click();
    assert.equal(
      await page.locator('[data-field="binding-message"]').innerText(),
      `Order ${ids.length - 1}`,
      'the newest request is the one shown',
    );

    // Every request of the app runs out of time while the phone looks at one.
    await server
      .db('backchannel_requests')
      .update({ expires_at: server.db.raw("now() - interval '1 second'") })
      .where({ client_id: 'desk' });
    await server
      .db('oidc_store')
      .update({ payload: server.db.raw(`jsonb_set(payload, '{exp}', to_jsonb(extract(epoch from now())::bigint - 1))`) })
      .whereIn(
        'key_hash',
        ids.map((id) => sha256(id)),
      )
      .andWhere({ model: 'BackchannelAuthenticationRequest' });
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByText('It was answered already, or it expired.').waitFor();
    await page.goto(`${server.publicUrl}/account/devices`);
    await page.getByRole('heading', { name: 'Your devices' }).waitFor();
    assert.equal(await page.locator('[data-ciba-request]').count(), 0, 'nothing is left waiting');
    const answer = await postForm(
      `${server.issuer}/token`,
      { grant_type: CIBA, auth_req_id: ids[ids.length - 1] as string },
      { authorization: `Basic ${Buffer.from(`desk:${secrets.desk}`).toString('base64')}` },
    );
    assert.equal(answer.json.error, 'expired_token', JSON.stringify(answer.json));
    await ctx.close();
  });
});
