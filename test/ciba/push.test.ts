import assert from 'node:assert/strict';
import { createECDH, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decrypt } from 'http_ece';
import * as jose from 'jose';
import { createClient } from '../../src/admin/clients.js';
import { pushEndpointAllowed, pushKeysValid } from '../../src/ciba/push.js';
import { ageLimitWindows } from '../helpers/fixtures.js';
import { Phone } from '../helpers/phone.js';
import { PASSWORD, postForm, startTestServer } from '../helpers/server.js';

/**
 * Web Push for backchannel approval: a subscription whose push service is a real HTTP server on loopback. The test
 * holds the subscription's private key and auth secret, as a browser does, and decrypts what arrives (RFC 8291,
 * with http_ece, the Web Push authors' implementation of RFC 8188), and checks the VAPID signature (RFC 8292).
 */
interface Delivery {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

describe('Web Push for backchannel approval', function () {
  this.timeout(60_000);
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let pushService: Server;
  let delivered: ((d: Delivery) => void) | undefined;
  let status = 201;

  before(async () => {
    pushService = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      delivered?.({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(status).end();
    });
    await new Promise<void>((r) => pushService.listen(0, '127.0.0.1', r));
    server = await startTestServer();
  });
  after(async () => {
    await server.close();
    await new Promise<void>((r) => pushService.close(() => r()));
  });

  it('a phone that turned notifications on is told at once, encrypted for it alone and signed by this deployment', async () => {
    const c = await createClient(server.store, server.provider(), {
      client_id: 'desk',
      client_name: 'Help Desk',
      grant_types: ['urn:openid:params:grant-type:ciba'],
      response_types: [],
      backchannel_token_delivery_mode: 'poll',
    });
    const phone = new Phone();
    await phone.submit(await phone.request(`${server.issuer}/account/signin`), { username: 'alice', password: PASSWORD });
    const account = await phone.request(`${server.issuer}/account/devices`);
    const csrf = /data-push data-csrf="([^"]+)"/.exec(account.html)?.[1];
    assert.ok(csrf, 'the account page offers notifications');

    // What a browser's PushManager.subscribe() holds: a P-256 key pair and a 16-byte auth secret.
    const receiver = createECDH('prime256v1');
    receiver.generateKeys();
    const auth = randomBytes(16).toString('base64url');
    const endpoint = `http://127.0.0.1:${(pushService.address() as AddressInfo).port}/push/alice-phone`;
    const cookie = [...phone.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const { publicKey } = (await (await fetch(`${server.issuer}/account/push/key`, { headers: { cookie } })).json()) as {
      publicKey: string;
    };
    const subscribed = await fetch(`${server.issuer}/account/push`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ csrf, subscription: { endpoint, keys: { p256dh: receiver.getPublicKey().toString('base64url'), auth } } }),
    });
    assert.equal(subscribed.status, 201, await subscribed.clone().text());
    // Another account cannot take this browser's subscription over.
    await server.store.users.insert({
      id: 'mallory',
      username: 'mallory',
      passwordHash: (await server.store.users.credentials('alice'))?.password_hash ?? null,
      name: null,
      email: null,
      emailVerified: false,
    });
    const other = new Phone();
    await other.submit(await other.request(`${server.issuer}/account/signin`), { username: 'mallory', password: PASSWORD });
    const otherPage = await other.request(`${server.issuer}/account/devices`);
    const otherCookie = [...other.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const takeover = await fetch(`${server.issuer}/account/push`, {
      method: 'POST',
      headers: { cookie: otherCookie, 'content-type': 'application/json' },
      body: JSON.stringify({
        csrf: /data-push data-csrf="([^"]+)"/.exec(otherPage.html)?.[1],
        subscription: { endpoint, keys: { p256dh: receiver.getPublicKey().toString('base64url'), auth } },
      }),
    });
    assert.equal(takeover.status, 409);

    const arrived = new Promise<Delivery>((resolve) => {
      delivered = resolve;
    });
    const basic = `Basic ${Buffer.from(`desk:${String(c.client_secret)}`).toString('base64')}`;
    const asked = await postForm(`${server.issuer}/backchannel`, { scope: 'openid', login_hint: 'alice' }, { authorization: basic });
    assert.equal(asked.status, 200, JSON.stringify(asked.json));
    const push = await arrived;
    assert.equal(push.path, '/push/alice-phone');
    assert.equal(push.headers['content-encoding'], 'aes128gcm');
    assert.equal(push.headers.urgency, 'high');
    const message = JSON.parse(decrypt(push.body, { version: 'aes128gcm', privateKey: receiver, authSecret: auth }).toString('utf8')) as {
      title: string;
      body: string;
      url: string;
    };
    assert.equal(message.body, 'Help Desk asks to sign you in');
    const id = (await server.store.backchannel.pending(server.userId))[0]?.id;
    assert.equal(message.url, `${server.issuer}/account/requests/${id}`);
    // VAPID (RFC 8292): a JWT for the push service's origin, signed with the key the browser subscribed with.
    const vapid = /^vapid t=([^,]+), k=(.+)$/.exec(String(push.headers.authorization));
    assert.equal(vapid?.[2], publicKey);
    const raw = Buffer.from(publicKey, 'base64url');
    const key = await jose.importJWK(
      { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33).toString('base64url') },
      'ES256',
    );
    const { payload } = await jose.jwtVerify(String(vapid?.[1]), key);
    assert.equal(payload.aud, new URL(endpoint).origin);

    // A push service that dropped the subscription (410) gets no more messages: the subscription is deleted.
    status = 410;
    const gone = new Promise<Delivery>((resolve) => {
      delivered = resolve;
    });
    await postForm(`${server.issuer}/backchannel`, { scope: 'openid', login_hint: 'alice' }, { authorization: basic });
    await gone;
    while ((await server.store.push.of(server.userId)).length > 0) await new Promise((r) => setImmediate(r));
  });

  it('pushes per user are limited over all apps: a request beyond the limit is listed on the phone, not pushed', async () => {
    await server.close();
    server = await startTestServer({ ciba: { ...server.config.ciba, maxPerUser: 2 } });
    const issuer = server.issuer;
    const basics: Record<string, string> = {};
    for (const id of ['desk-1', 'desk-2', 'desk-3']) {
      const c = await createClient(server.store, server.provider(), {
        client_id: id,
        client_name: `Help Desk ${id.slice(-1)}`,
        grant_types: ['urn:openid:params:grant-type:ciba'],
        response_types: [],
        backchannel_token_delivery_mode: 'poll',
      });
      basics[id] = `Basic ${Buffer.from(`${id}:${String(c.client_secret)}`).toString('base64')}`;
    }
    const phone = new Phone();
    await phone.submit(await phone.request(`${issuer}/account/signin`), { username: 'alice', password: PASSWORD });
    const csrf = /data-push data-csrf="([^"]+)"/.exec((await phone.request(`${issuer}/account/devices`)).html)?.[1];
    const receiver = createECDH('prime256v1');
    receiver.generateKeys();
    const auth = randomBytes(16).toString('base64url');
    const subscribed = await fetch(`${issuer}/account/push`, {
      method: 'POST',
      headers: { cookie: [...phone.cookies].map(([k, v]) => `${k}=${v}`).join('; '), 'content-type': 'application/json' },
      body: JSON.stringify({
        csrf,
        subscription: {
          endpoint: `http://127.0.0.1:${(pushService.address() as AddressInfo).port}/push/limited`,
          keys: { p256dh: receiver.getPublicKey().toString('base64url'), auth },
        },
      }),
    });
    assert.equal(subscribed.status, 201, await subscribed.clone().text());

    // Each push names the request it is about (the page it opens).
    status = 201;
    const urls: string[] = [];
    let arrived: (() => void) | undefined;
    delivered = (d) => {
      urls.push(
        (JSON.parse(decrypt(d.body, { version: 'aes128gcm', privateKey: receiver, authSecret: auth }).toString('utf8')) as { url: string })
          .url,
      );
      arrived?.();
    };
    const pushes = (n: number) =>
      new Promise<void>((resolve) => {
        arrived = () => {
          if (urls.length >= n) resolve();
        };
        arrived();
      });
    const ask = async (client: string) => {
      const answer = await postForm(
        `${issuer}/backchannel`,
        { scope: 'openid', login_hint: 'alice' },
        { authorization: basics[client] ?? '' },
      );
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
    };
    const pageOf = async (client: string) =>
      `${issuer}/account/requests/${(await server.store.backchannel.pending(server.userId)).find((r) => r.client_id === client)?.id}`;

    await ask('desk-1');
    const first = await pageOf('desk-1');
    await ask('desk-2');
    const second = await pageOf('desk-2');
    await pushes(2);
    assert.deepEqual([...urls].sort(), [first, second].sort());
    await ask('desk-3');
    const third = await pageOf('desk-3');
    const listed = await phone.request(`${issuer}/account/devices`);
    assert.equal([...listed.html.matchAll(/data-ciba-request=/g)].length, 3, 'the third request is listed on the phone');
    // A new window: the next request is pushed again. Its push arrives after any the third could have caused.
    await ageLimitWindows(server.db, server.config.ciba.windowSeconds + 1);
    await ask('desk-1');
    const fourth = await pageOf('desk-1');
    await pushes(3);
    assert.equal(urls.length, 3);
    assert.equal(urls[2], fourth);
    assert.ok(!urls.includes(third), 'the request beyond the limit was not pushed');
  });

  it('sends only to the browsers’ push services (or loopback in a local trial): a subscription cannot aim Handoff elsewhere', () => {
    const issuer = 'https://id.example.com';
    assert.equal(pushEndpointAllowed(issuer, 'https://fcm.googleapis.com/fcm/send/abc'), true);
    assert.equal(pushEndpointAllowed(issuer, 'https://updates.push.services.mozilla.com/wpush/v2/abc'), true);
    assert.equal(pushEndpointAllowed(issuer, 'https://web.push.apple.com/abc'), true);
    assert.equal(pushEndpointAllowed(issuer, 'https://wns2-par02p.notify.windows.com/w/?token=abc'), true);
    for (const bad of [
      'https://storage.googleapis.com/attacker-bucket',
      'https://attacker.storage.googleapis.com/x',
      'https://fcm.googleapis.com:22/x',
      'https://push.mozaws.net/x',
      'http://fcm.googleapis.com/fcm/send/abc',
      'https://169.254.169.254/latest/meta-data',
      'https://127.0.0.1:9/push',
      'https://internal.corp.example/push',
      'https://googleapis.com.evil.example/x',
      'https://user:pass@fcm.googleapis.com/x',
      'javascript:alert(1)',
    ])
      assert.equal(pushEndpointAllowed(issuer, bad), false, bad);
    assert.equal(pushEndpointAllowed('http://localhost:3000', 'http://127.0.0.1:9/push'), true, 'a local trial');
    assert.equal(pushEndpointAllowed('http://localhost:3000', 'ftp://127.0.0.1:21/push'), false);
    assert.equal(pushKeysValid(createECDH('prime256v1').generateKeys().toString('base64url'), randomBytes(16).toString('base64url')), true);
    assert.equal(
      pushKeysValid(Buffer.alloc(65, 4).toString('base64url'), randomBytes(16).toString('base64url')),
      false,
      'not a point on P-256',
    );
    assert.equal(
      pushKeysValid(createECDH('prime256v1').generateKeys().toString('base64url'), randomBytes(12).toString('base64url')),
      false,
    );
  });
});
