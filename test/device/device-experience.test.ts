import assert from 'node:assert/strict';
import { agePoll, endLimitWindows } from '../helpers/fixtures.js';
import { PNG } from 'pngjs';
import { sha256 } from '../../src/store/hash.js';
import { Phone } from '../helpers/phone.js';
import { decodePng, decodeTerminalText } from '../helpers/qr.js';
import { DEVICE_GRANT, deviceAuthorization, postForm, redeem, startTestServer } from '../helpers/server.js';

type Auth = Awaited<ReturnType<typeof deviceAuthorization>> & { interval: number; verification_uri_complete_qr: string };

describe('device experience', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer({
      device: { maxAuthorizationsPerIp: 1000, maxAuthorizationsPerClient: 1000, maxUnknownDeviceCodesPerIp: 1000 },
    });
  });
  beforeEach(() => endLimitWindows(server.db));
  after(() => server.close());

  const start = async () => (await deviceAuthorization(server.publicUrl)) as Auth;

  describe('QR codes', () => {
    it('the response carries interval and a QR URL that does not reveal the user code', async () => {
      const dc = await start();
      assert.equal(dc.interval, 5);
      assert.match(dc.verification_uri_complete_qr, new RegExp(`^${server.issuer}/device/qr/[\\w-]+\\.svg$`));
      assert.ok(!dc.verification_uri_complete_qr.includes(dc.user_code.replace('-', '')));
      assert.ok(!dc.verification_uri_complete_qr.includes(dc.user_code));
    });

    it('PNG decodes (independent decoder) to exactly verification_uri_complete, with a quiet zone and TV size', async () => {
      const dc = await start();
      const res = await fetch(dc.verification_uri_complete_qr.replace(/\.svg$/, '.png'));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'image/png');
      const buf = Buffer.from(await res.arrayBuffer());
      assert.equal(decodePng(buf), dc.verification_uri_complete);
      const png = PNG.sync.read(buf);
      assert.ok(png.width >= 600, `width ${png.width}`);
      for (let x = 0; x < png.width; x += 1) assert.equal(png.data[x * 4], 255, 'the top rows are a light quiet zone');
    });

    it('serves SVG and a text QR for terminals, cacheable for the code lifetime only', async () => {
      const dc = await start();
      const svg = await fetch(dc.verification_uri_complete_qr);
      assert.equal(svg.headers.get('content-type'), 'image/svg+xml');
      assert.match(await svg.text(), /^<svg[\s\S]*<\/svg>\s*$/);
      const maxAge = Number(/max-age=(\d+)/.exec(svg.headers.get('cache-control') ?? '')?.[1]);
      assert.ok(maxAge > 590 && maxAge <= 600, `max-age ${maxAge}`);
      assert.match(svg.headers.get('cache-control') ?? '', /private/);
      // The text QR reads on any terminal: with ANSI colours on a light or a dark theme, and uncoloured in the
      // rendering chosen for the theme; the one made for the other theme does not (so the test can fail).
      const txt = (theme?: string) =>
        fetch(`${dc.verification_uri_complete_qr.replace(/\.svg$/, '.txt')}${theme ? `?theme=${theme}` : ''}`);
      const ansi = await txt();
      assert.equal(ansi.status, 200);
      const colours = await ansi.text();
      for (const theme of ['dark', 'light'] as const) assert.equal(decodeTerminalText(colours, theme), dc.verification_uri_complete, theme);
      const forDark = await (await txt('dark')).text();
      const forLight = await (await txt('light')).text();
      assert.equal(decodeTerminalText(forDark, 'dark'), dc.verification_uri_complete);
      assert.equal(decodeTerminalText(forLight, 'light'), dc.verification_uri_complete);
      assert.equal(decodeTerminalText(forDark, 'light'), undefined, 'the dark rendering is inverted on a light theme');
    });

    it('renders nothing but live, well-formed codes: anything else is a 404', async () => {
      const dc = await start();
      const base = `${server.issuer}/device/qr/`;
      const handle = /qr\/([\w-]+)\.svg$/.exec(dc.verification_uri_complete_qr)?.[1] as string;
      const tampered = handle.slice(0, -2) + (handle.endsWith('AA') ? 'BB' : 'AA');
      for (const path of [
        `${tampered}.svg`,
        `${dc.user_code}.svg`,
        'BCDFGHJK.png',
        `${handle}.gif`,
        `${handle}`,
        'x.svg',
        '%3Cscript%3E.svg',
      ]) {
        assert.equal((await fetch(base + path)).status, 404, path);
      }
      await new Phone().approveDevice(dc.verification_uri_complete);
      assert.equal((await fetch(dc.verification_uri_complete_qr)).status, 404, 'a decided code has no QR any more');
    });
  });

  describe('slow_down (RFC 8628 3.5)', () => {
    it('never refuses the first poll, refuses a fast one without moving the last accepted poll, and grows the interval by 5', async () => {
      const dc = await start();
      const row = () =>
        server
          .db('device_pacing')
          .first('last_polled_at', 'poll_interval')
          .where({ key_hash: sha256(dc.device_code) });
      assert.equal((await redeem(server.publicUrl, dc.device_code)).json.error, 'authorization_pending');
      // Advance time: the last accepted poll was 6 s ago.
      await agePoll(server.db, dc.device_code, 6);
      assert.equal((await redeem(server.publicUrl, dc.device_code)).json.error, 'authorization_pending');
      const accepted = await row();
      const fast = await redeem(server.publicUrl, dc.device_code);
      assert.equal(fast.status, 400);
      assert.equal(fast.json.error, 'slow_down');
      const after = await row();
      assert.equal(new Date(after.last_polled_at).getTime(), new Date(accepted.last_polled_at).getTime(), 'a refused poll does not count');
      assert.equal(after.poll_interval, 10);
      // 6 s later is no longer enough: the interval for this code is now 10 s.
      await agePoll(server.db, dc.device_code, 6);
      assert.equal((await redeem(server.publicUrl, dc.device_code)).json.error, 'slow_down');
      assert.equal((await row()).poll_interval, 15);
      // Approved: released at once, whatever the interval.
      await new Phone().approveDevice(dc.verification_uri_complete);
      assert.equal((await redeem(server.publicUrl, dc.device_code)).status, 200);
    });
  });

  describe('abuse limits', () => {
    it('limits wrong user codes per browser session (5) and answers 429 with Retry-After; a right code does not reset it', async () => {
      const phone = new Phone();
      const dc = await start();
      let page = await phone.request(`${server.publicUrl}/device`);
      const wrong = async () => {
        page = await phone.submit(page, { user_code: 'BBBB-BBBB' });
        return page.status;
      };
      assert.deepEqual([await wrong(), await wrong(), await wrong(), await wrong()], [400, 400, 400, 400]);
      page = await phone.submit(page, { user_code: dc.user_code.toLowerCase().replace('-', ' ') });
      assert.match(page.html, /Yes, approve/, 'lower case with a space is the same code');
      page = await phone.request(`${server.publicUrl}/device`);
      assert.equal(await wrong(), 400);
      assert.equal(await wrong(), 429);
      assert.ok(Number(page.headers.get('retry-after')) > 0);
      assert.match(page.html, /Too many wrong codes/);
      const other = new Phone();
      const fresh = await other.submit(await other.request(`${server.publicUrl}/device`), { user_code: 'BBBB-BBBB' });
      assert.equal(fresh.status, 400, 'another browser still has its own budget');
    });

    it('limits wrong user codes per IP address (10) across browsers', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 11; i += 1) {
        const phone = new Phone();
        const page = await phone.submit(await phone.request(`${server.publicUrl}/device`), { user_code: 'CCCC-CCCC' });
        statuses.push(page.status);
      }
      assert.deepEqual(statuses, [...Array(10).fill(400), 429]);
    });

    it('counts opened links with unknown codes too', async () => {
      const phone = new Phone();
      const statuses: number[] = [];
      for (let i = 0; i < 6; i += 1)
        statuses.push((await phone.request(`${server.publicUrl}/device?user_code=DDDD-DDD${'BCDFGH'[i]}`)).status);
      assert.deepEqual(statuses, [400, 400, 400, 400, 400, 429]);
    });
  });

  describe('the phone pages', () => {
    it('opening the QR link shows the confirmation page first, with the device as a person understands it', async () => {
      const res = await fetch(`${server.publicUrl}/device/auth`, {
        method: 'POST',
        body: new URLSearchParams({ client_id: 'tv', scope: 'openid email' }),
        headers: {
          'user-agent': 'Mozilla/5.0 (SMART-TV; LINUX; Tizen 7.0) AppleWebKit/537.36 (KHTML, like Gecko) 94.0.4606.31/7.0 TV Safari/537.36',
        },
      });
      const dc = (await res.json()) as Auth;
      const phone = new Phone();
      const page = await phone.request(dc.verification_uri_complete);
      assert.equal(page.status, 200);
      assert.match(page.html, /Sign in to Living Room TV on your device\?/);
      assert.match(page.html, new RegExp(dc.user_code));
      assert.match(page.html, /Your email address/);
      assert.match(page.html, /data-field="device">says it is Samsung TV \(Tizen\)</);
      assert.match(page.html, /data-field="ip">127\.0\.0\.1</);
      assert.match(page.html, /data-field="when">just now</);
      assert.match(page.html, /Did you start this on a device in front of you\?/);
      const pending = await redeem(server.publicUrl, dc.device_code);
      assert.equal(pending.json.error, 'authorization_pending', 'opening the link approved nothing');
    });

    it('speaks Simplified Chinese when the phone prefers it', async () => {
      const dc = await start();
      const res = await fetch(dc.verification_uri_complete, { headers: { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8' } });
      const html = await res.text();
      assert.match(html, /<html lang="zh-CN">/);
      assert.match(html, /是，批准/);
      assert.match(html, /否，拒绝/);
    });

    it('lists approved devices on "Your devices"; revoking cuts off their tokens at once', async () => {
      const dc = await start();
      const phone = new Phone();
      await phone.approveDevice(dc.verification_uri_complete);
      const tokens = await redeem(server.publicUrl, dc.device_code);
      assert.equal(tokens.status, 200);
      const me = () => fetch(`${server.publicUrl}/me`, { headers: { authorization: `Bearer ${tokens.json.access_token}` } });
      assert.equal((await me()).status, 200);

      const devices = await phone.request(`${server.publicUrl}/account/devices`);
      assert.equal(devices.status, 200);
      assert.match(devices.html, /Living Room TV/);
      assert.match(devices.html, /Node\.js/);
      const entry = `data-approval="${sha256(dc.device_code)}"`;
      assert.ok(devices.html.includes(entry));
      const revoked = await phone.revokeOnAccount(server.publicUrl, sha256(dc.device_code));
      assert.ok(!revoked.html.includes(entry), 'the ended sign-in is no longer listed');
      assert.equal((await me()).status, 401, 'the access token stopped working');
      const refresh = await postForm(`${server.publicUrl}/token`, {
        grant_type: 'refresh_token',
        refresh_token: String(tokens.json.refresh_token),
        client_id: 'tv',
      });
      assert.equal(refresh.json.error, 'invalid_grant', 'the refresh token stopped working');
    });

    it('"Your devices" asks a browser without a session to sign in first', async () => {
      const phone = new Phone();
      const page = await phone.request(`${server.publicUrl}/account/devices`);
      assert.match(page.html, /name="password"/);
      const after = await phone.submit(page, { username: 'alice', password: 'correct horse battery staple' });
      assert.equal(after.url, `${server.publicUrl}/account/devices`);
      assert.match(after.html, /<h1>Your devices<\/h1>\n<p class="muted">Signed in as Alice Example<\/p>/);
    });
  });
});

describe('device minting limits', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  const limits = { maxAuthorizationsPerIp: 3, maxAuthorizationsPerClient: 1000, maxUnknownDeviceCodesPerIp: 3 };
  before(async () => {
    server = await startTestServer({ device: limits });
  });
  after(() => server.close());

  it('limits device authorizations per IP with 429 slow_down and Retry-After', async () => {
    const results = [];
    for (let i = 0; i < 4; i += 1) results.push(await postForm(`${server.publicUrl}/device/auth`, { client_id: 'tv', scope: 'openid' }));
    assert.deepEqual(
      results.map((r) => r.status),
      [200, 200, 200, 429],
    );
    assert.equal(results[3]?.json.error, 'slow_down');
    assert.ok(Number(results[3]?.headers.get('retry-after')) > 0);
  });

  it('limits unknown device codes per IP', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i += 1) {
      statuses.push(
        (await postForm(`${server.publicUrl}/token`, { grant_type: DEVICE_GRANT, device_code: `unknown-${i}`, client_id: 'tv' })).status,
      );
    }
    assert.deepEqual(statuses, [400, 400, 400, 429]);
  });
});

describe('device minting limits per client', () => {
  it('limits device authorizations per client', async () => {
    const server = await startTestServer({
      device: { maxAuthorizationsPerIp: 1000, maxAuthorizationsPerClient: 2, maxUnknownDeviceCodesPerIp: 10 },
    });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i += 1)
        statuses.push((await postForm(`${server.publicUrl}/device/auth`, { client_id: 'tv', scope: 'openid' })).status);
      assert.deepEqual(statuses, [200, 200, 429]);
    } finally {
      await server.close();
    }
  });
});
