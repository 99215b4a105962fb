import assert from 'node:assert/strict';
import { passkeyCeremonies, relyingPartyOf } from '../../src/accounts/passkeys.js';
import { createClient } from '../../src/admin/clients.js';
import { endLimitWindows } from '../helpers/fixtures.js';
import { Phone } from '../helpers/phone.js';
import { PASSWORD, startTestServer } from '../helpers/server.js';

/** The passkey rules that a browser cannot be made to break, checked on the real store and over real HTTP. */
describe('passkeys: counters, challenges, ownership, renaming', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());
  afterEach(() => endLimitWindows(server.db));

  const key = (id: string, accountId: string, counter = 5) => ({
    id,
    accountId,
    publicKey: new Uint8Array([1, 2, 3]),
    counter,
    transports: ['internal'],
    backedUp: false,
    name: 'Key',
  });

  it('refuses a sign counter that does not go forward, and keeps a zero counter usable', async () => {
    const p = server.store.passkeys;
    assert.ok(await p.insert(key('counting', server.userId, 5)));
    assert.equal(await p.used('counting', 5), false, 'the same counter again: a replay or a clone');
    assert.equal(await p.used('counting', 4), false, 'backwards');
    assert.equal(await p.used('counting', 6), true);
    assert.equal((await p.find('counting'))?.counter, 6);
    assert.ok(await p.insert(key('zero', server.userId, 0)));
    assert.equal(await p.used('zero', 0), true, 'an authenticator without a counter');
    assert.equal(await p.used('zero', 0), true);
    assert.equal(await p.used('zero', 3), true, 'and one that starts counting');
    assert.equal(await p.used('zero', 0), false, 'a counter never goes back to zero');
  });

  it('takes a challenge once, for its purpose and binding only, and not after it expired', async () => {
    const p = server.store.passkeys;
    await p.issueChallenge('c1', 'authenticate', 'interaction:a', null, 60);
    assert.equal(await p.takeChallenge('c1', 'register', 'interaction:a', null), false, 'another purpose');
    assert.equal(await p.takeChallenge('c1', 'authenticate', 'interaction:b', null), false, 'another sign-in');
    assert.equal(await p.takeChallenge('c1', 'authenticate', 'interaction:a', null), true);
    assert.equal(await p.takeChallenge('c1', 'authenticate', 'interaction:a', null), false, 'single use');
    await p.issueChallenge('c2', 'register', 'session:s', server.userId, 60);
    assert.equal(await p.takeChallenge('c2', 'register', 'session:s', 'someone-else'), false, 'another account');
    await p.issueChallenge('c3', 'authenticate', 'interaction:x', null, 0);
    assert.equal(await p.takeChallenge('c3', 'authenticate', 'interaction:x', null), false, 'expired');
  });

  it('a credential id belongs to one account: registering it again is refused, and an answer for another account is refused', async () => {
    const p = server.store.passkeys;
    assert.ok(await p.insert(key('shared-id', server.userId)));
    assert.equal(await p.insert(key('shared-id', 'another-account')), false);
    assert.equal((await p.find('shared-id'))?.account_id, server.userId);
    // An assertion whose user handle names another account than the credential's is refused before any write.
    const ceremonies = passkeyCeremonies(server.store, relyingPartyOf(server.issuer));
    const options = await ceremonies.authenticationOptions('interaction:handle');
    const clientDataJSON = Buffer.from(
      JSON.stringify({ type: 'webauthn.get', challenge: options.challenge, origin: server.issuer }),
    ).toString('base64url');
    await assert.rejects(
      ceremonies.authenticate('interaction:handle', {
        response: {
          id: 'shared-id',
          rawId: 'shared-id',
          type: 'public-key',
          response: {
            clientDataJSON,
            authenticatorData: 'AA',
            signature: 'AA',
            userHandle: Buffer.from('another-account').toString('base64url'),
          },
          clientExtensionResults: {},
        },
      }),
      (err: Error & { status?: number }) => err.status === 400,
    );
    assert.equal((await p.find('shared-id'))?.counter, 5, 'nothing changed');
  });

  it('a passkey sign-in spends the same per-address budget as a password: failed answers end in 429', async () => {
    await createClient(server.store, server.provider(), {
      client_id: 'pk-throttle',
      client_name: 'App',
      redirect_uris: ['https://rp.example.com/cb'],
    });
    const phone = new Phone();
    const url = new URL(`${server.publicUrl}/auth`);
    url.search = new URLSearchParams({
      client_id: 'pk-throttle',
      response_type: 'code',
      scope: 'openid',
      redirect_uri: 'https://rp.example.com/cb',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    }).toString();
    const login = await phone.request(url.toString());
    const verify = /data-verify="([^"]+)"/.exec(login.html)?.[1];
    const csrf = /data-passkey-signin[^>]*data-csrf="([^"]+)"/.exec(login.html)?.[1];
    assert.ok(verify && csrf, 'the sign-in page offers a passkey');
    const cookie = [...phone.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const statuses: number[] = [];
    for (let i = 0; i <= server.config.login.maxFailuresPerAddress; i += 1) {
      const res = await fetch(new URL(verify, server.publicUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie },
        body: JSON.stringify({ csrf, response: { id: 'nope', response: { clientDataJSON: 'e30' } } }),
      });
      statuses.push(res.status);
    }
    assert.ok(
      statuses.slice(0, -1).every((s) => s === 400),
      statuses.join(','),
    );
    assert.equal(statuses.at(-1), 429, 'the budget is spent');
    const password = await phone.submit(login, { username: 'alice', password: PASSWORD });
    assert.equal(password.status, 429, 'and it is the same budget as passwords from this address');
  });

  it('renames and removes only the signed-in account’s own passkeys', async () => {
    const p = server.store.passkeys;
    assert.ok(await p.insert(key('mine', server.userId)));
    assert.ok(await p.insert(key('theirs', 'another-account')));
    const phone = new Phone();
    await phone.submit(await phone.request(`${server.publicUrl}/account/signin`), { username: 'alice', password: PASSWORD }, '/login');
    const account = await phone.request(`${server.publicUrl}/account/devices`);
    assert.match(account.html, /data-passkey="mine"/);
    assert.doesNotMatch(account.html, /data-passkey="theirs"/);
    await phone.submit(account, { name: 'Kitchen tablet' }, '/account/passkeys/mine/rename');
    assert.equal((await p.find('mine'))?.name, 'Kitchen tablet');
    const csrf = /name="csrf" value="([^"]+)"/.exec(account.html)?.[1] ?? '';
    const foreign = await phone.request(`${server.publicUrl}/account/passkeys/theirs/rename`, { form: { csrf, name: 'Taken' } });
    assert.equal(foreign.status, 200, 'back to the account page');
    assert.equal((await p.find('theirs'))?.name, 'Key', 'another account’s passkey is untouched');
    await phone.request(`${server.publicUrl}/account/passkeys/theirs/remove`, { form: { csrf } });
    assert.ok(await p.find('theirs'), 'and not removed');
  });
});
