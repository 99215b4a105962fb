import assert from 'node:assert/strict';
import { ageSignIn } from '../helpers/fixtures.js';
import { Phone } from '../helpers/phone.js';
import { adminFetch, PASSWORD, postForm, startTestServer } from '../helpers/server.js';

/**
 * Third security review, findings 7, 10 and 12: a session must not outlive the password, a phished password or a
 * stolen session must not turn itself into lasting passkey access, and a leaked cookie key must be droppable at once.
 */
describe('security: sessions, passkey changes and cookie keys (third review, 7, 10, 12)', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer({ proxy: true });
  });
  after(() => server.close());

  /** A browser at `ip` signed in as alice with her password. */
  async function signedIn(ip: string, ua = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36') {
    const browser = Phone.at(ip);
    browser.userAgent = ua;
    const page = await browser.submit(await browser.request(`${server.publicUrl}/account/devices`), {
      username: 'alice',
      password: PASSWORD,
    });
    assert.match(page.html, /Your devices/);
    return browser;
  }
  const stillSignedIn = async (b: Phone) => /Your devices/.test((await b.request(`${server.publicUrl}/account/devices`)).html);
  const csrfOf = (html: string) => /data-csrf="([^"]+)"|name="csrf" value="([^"]+)"/.exec(html)?.slice(1).find(Boolean) ?? '';
  const json = (b: Phone, path: string, body: Record<string, unknown>) =>
    fetch(`${server.publicUrl}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        cookie: [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        ...b.headers,
      },
      body: JSON.stringify(body),
    });

  it('10: the account page lists where the account is signed in (device, place, how, last use) and signs out everywhere', async () => {
    const laptop = await signedIn('203.0.113.20');
    const phone = await signedIn(
      '198.51.100.30',
      'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1',
    );
    const page = await laptop.request(`${server.publicUrl}/account/devices`);
    const sessions = [...page.html.matchAll(/<li class="card session" data-session="(this|other)">([\s\S]*?)<\/li>/g)];
    assert.equal(sessions.length, 2, 'both browsers are listed');
    const mine = sessions.find((m) => m[1] === 'this')?.[2] ?? '';
    const other = sessions.find((m) => m[1] === 'other')?.[2] ?? '';
    assert.match(mine, /Chrome on Windows[\s\S]*203\.0\.113\.20[\s\S]*with a password/);
    assert.match(other, /Safari on iOS[\s\S]*198\.51\.100\.30/);

    const confirm = await laptop.request(`${server.publicUrl}/account/sessions/end`);
    assert.match(confirm.html, /2 browsers, this one included/);
    const after = await laptop.submit(confirm);
    assert.equal(new URL(after.url).pathname, '/');
    assert.equal(await stillSignedIn(laptop), false, 'this browser is signed out');
    assert.equal(await stillSignedIn(phone), false, 'and so is the other one');
    const events = (await (await adminFetch(server, 'GET', '/admin/audit?type=signed_out_everywhere')).json()) as Array<{
      detail: unknown;
    }>;
    assert.deepEqual(events[0]?.detail, { ended: 2 });
  });

  it('10: a password reset ends every session of the account; the admin API and CLI list and end them', async () => {
    const a = await signedIn('203.0.113.21');
    const b = await signedIn('203.0.113.22');
    const listed = (await (await adminFetch(server, 'GET', `/admin/users/${server.userId}/sessions`)).json()) as Array<{ ip: string }>;
    assert.deepEqual(listed.map((s) => s.ip).sort(), ['203.0.113.21', '203.0.113.22']);
    const reset = await adminFetch(server, 'PATCH', `/admin/users/${server.userId}`, { password: 'a brand new long password' });
    assert.equal(reset.status, 200);
    assert.equal(await stillSignedIn(a), false);
    assert.equal(await stillSignedIn(b), false);
    await adminFetch(server, 'PATCH', `/admin/users/${server.userId}`, { password: PASSWORD });
    const c = await signedIn('203.0.113.23');
    const ended = (await (await adminFetch(server, 'POST', `/admin/users/${server.userId}/sessions/end`)).json()) as { ended: number };
    assert.equal(ended.ended, 1);
    assert.equal(await stillSignedIn(c), false);
    // A name change is no reset: it ends nothing.
    const d = await signedIn('203.0.113.24');
    await adminFetch(server, 'PATCH', `/admin/users/${server.userId}`, { name: 'Alice E.' });
    assert.equal(await stillSignedIn(d), true);
  });

  it('7: adding or removing a passkey needs a fresh sign-in, and a passkey one once the account has a passkey', async () => {
    const browser = await signedIn('203.0.113.25');
    let page = await browser.request(`${server.publicUrl}/account/devices`);
    const csrf = csrfOf(page.html);
    assert.equal((await json(browser, '/account/passkeys/options', { csrf })).status, 200, 'a sign-in made just now may add one');

    // Twenty minutes later (a stolen session, a phished password used long after): no.
    await ageSignIn(server.db, server.userId, 20 * 60);
    const stale = await json(browser, '/account/passkeys/options', { csrf });
    assert.equal(stale.status, 401);
    assert.equal(((await stale.json()) as { error: string }).error, 'login_required');
    page = await browser.request(`${server.publicUrl}/account/devices`);
    assert.match(page.html, /data-field="fresh-sign-in"/, 'the page asks to confirm it is you instead of offering Add');
    assert.doesNotMatch(page.html, /data-passkey-register/);

    // The account has a passkey now: even a fresh password sign-in may not add another or remove one.
    await server.store.passkeys.insert({
      id: 'existing-passkey',
      accountId: server.userId,
      publicKey: new Uint8Array([1, 2, 3]),
      counter: 0,
      transports: [],
      backedUp: false,
      name: 'Work laptop',
    });
    const fresh = await signedIn('203.0.113.26');
    const freshPage = await fresh.request(`${server.publicUrl}/account/devices`);
    assert.equal((await json(fresh, '/account/passkeys/options', { csrf: csrfOf(freshPage.html) })).status, 401);
    const removePage = await fresh.request(`${server.publicUrl}/account/passkeys/existing-passkey/remove`);
    assert.match(removePage.url, /\/interaction\//, 'removing first asks for a sign-in');
    assert.match(removePage.html, /data-field="step-up"|passkey/i, 'with a passkey');
    const forged = await postForm(
      `${server.publicUrl}/account/passkeys/existing-passkey/remove`,
      { csrf: csrfOf(freshPage.html) },
      { cookie: [...fresh.cookies].map(([k, v]) => `${k}=${v}`).join('; '), accept: 'application/json', ...fresh.headers },
    );
    assert.equal(forged.status, 401);
    assert.ok(await server.store.passkeys.find('existing-passkey'), 'the passkey is still there');
    await server.store.passkeys.remove(server.userId, 'existing-passkey');
  });

  it('12: cookie-keys rotate --now drops the old keys at once: everyone is signed out, new sign-ins work', async () => {
    const browser = await signedIn('203.0.113.27');
    const graceful = (await (await adminFetch(server, 'POST', '/admin/cookie-keys/rotate', {})).json()) as { keys: number };
    assert.ok(graceful.keys >= 2, 'a graceful rotation keeps the old key verifying');
    assert.equal(await stillSignedIn(browser), true);
    const now = (await (await adminFetch(server, 'POST', '/admin/cookie-keys/rotate', { now: true })).json()) as { keys: number };
    assert.equal(now.keys, 1, 'only the new key is left');
    assert.equal(await stillSignedIn(browser), false, 'a cookie signed with a dropped key signs nobody in');
    assert.equal(await stillSignedIn(await signedIn('203.0.113.28')), true);
    const bad = await adminFetch(server, 'POST', '/admin/cookie-keys/rotate', { now: 'yes' });
    assert.equal(bad.status, 400);
  });
});
