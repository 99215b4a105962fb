import assert from 'node:assert/strict';
import { sha256 } from '../../src/store/hash.js';
import { createStore, type Store } from '../../src/store/index.js';
import { resetDb, sharedDb } from '../helpers/db.js';
import { ageLimitWindows } from '../helpers/fixtures.js';

/**
 * One request's limits in one statement (store/counters.ts `take`), a user-code guess that finds the code and
 * counts a miss in one statement (store/device-codes.ts `guess`), and an approval recorded with its audit entry
 * in one statement (store/approvals.ts). Each must leave exactly the counts and rows of the statements it replaced.
 */
describe('limits, guesses and approvals in one statement each', () => {
  let store: Store;
  let db: Awaited<ReturnType<typeof sharedDb>>;

  beforeEach(async () => {
    db = await sharedDb();
    await resetDb(db);
    store = createStore(db);
  });
  afterEach(async () => {
    await store.close();
  });

  const limit = (bucket: string, max: number, key = 'k') => ({ bucket, key, windowSeconds: 60, max });
  const count = async (bucket: string, key = 'k') =>
    Number((await db('rate_counters').where({ bucket, key }).first<{ count?: number }>())?.count ?? 0);
  const sent = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
    const before = store.statementCount();
    const out = await work();
    return [out, store.statementCount() - before];
  };

  it('a chain of limits counts in order and spends nothing past the one that refuses', async () => {
    const narrow = [limit('device-auth:address', 3), limit('device-auth:client', 5)];
    const answers: Array<number | undefined> = [];
    for (let i = 0; i < 5; i++) {
      const [refused, statements] = await sent(() => store.counters.take(narrow));
      answers.push(refused?.index);
      assert.equal(statements, 1, 'allowed or refused by the first limit: one statement');
    }
    assert.deepEqual(answers, [undefined, undefined, undefined, 0, 0]);
    assert.equal(await count('device-auth:address'), 3);
    assert.equal(await count('device-auth:client'), 3, 'requests the address limit refused spent none of the next budget');

    const wide = [limit('user-code:address', 10), limit('user-code:session', 2)];
    const later: Array<number | undefined> = [];
    for (let i = 0; i < 4; i++) later.push((await store.counters.take(wide))?.index);
    assert.deepEqual(later, [undefined, undefined, 1, 1]);
    assert.equal(await count('user-code:address'), 2, 'refused by the second limit: the first is given back');
    assert.equal(await count('user-code:session'), 2);
    const refusal = await store.counters.take(wide);
    assert.ok(refusal && refusal.retryAfter >= 1 && refusal.retryAfter <= 60, 'a refusal says when its window ends');

    // Listed in another order than the lock order: counted one statement per limit, with the same answers.
    const unsorted = [limit('login:address', 10), limit('login:pair', 2), limit('login:account', 10)];
    const answered: Array<number | undefined> = [];
    for (let i = 0; i < 3; i++) answered.push((await store.counters.take(unsorted))?.index);
    assert.deepEqual(answered, [undefined, undefined, 1]);
    assert.deepEqual([await count('login:address'), await count('login:pair'), await count('login:account')], [2, 2, 2]);
  });

  it('parallel chains allow exactly the first limit, and the second counts only what the first allowed', async () => {
    const results = await Promise.all(Array.from({ length: 30 }, () => store.counters.take([limit('x', 10), limit('y', 20)])));
    assert.equal(results.filter((r) => r === undefined).length, 10);
    assert.ok(results.every((r) => r === undefined || r.index === 0));
    assert.equal(await count('x'), 10);
    assert.equal(await count('y'), 10);
  });

  it('chains of one shape count their own keys, alone or together', async () => {
    const of = (key: string) => [limit('s', 1, key), limit('t', 1, key)];
    assert.equal(await store.counters.take(of('one')), undefined);
    assert.equal(await store.counters.take(of('two')), undefined, 'a second key has its own budget');
    assert.equal((await store.counters.take(of('one')))?.index, 0);
    const together = await Promise.all(['three', 'four', 'five', 'six'].map((k) => store.counters.take(of(k))));
    assert.deepEqual(together, [undefined, undefined, undefined, undefined]);
    for (const k of ['one', 'two', 'three', 'four', 'five', 'six']) assert.deepEqual([await count('s', k), await count('t', k)], [1, 1], k);
  });

  it('parallel chains of one shape share statements, and a chain refused by its second limit gives the first back', async () => {
    const [results, statements] = await sent(() =>
      Promise.all(Array.from({ length: 30 }, () => store.counters.take([limit('p', 10), limit('q', 4)]))),
    );
    assert.equal(results.filter((r) => r === undefined).length, 4, 'exactly the second limit is allowed');
    assert.ok(results.every((r) => r === undefined || r.index === 0 || r.index === 1));
    assert.ok(
      results.some((r) => r?.index === 1),
      'some chains were refused by the second limit',
    );
    assert.ok(statements < 30, `30 chains sent in ${statements} statements: chains that arrive together go out together`);
    assert.equal(await count('q'), 4);
    assert.equal(await count('p'), 4, 'every chain the second limit refused gave its first count back');
  });

  const USER_CODE = sha256('BCDFGHJK');
  async function storeCode(): Promise<void> {
    const payload = JSON.stringify({ clientId: 'tv', exp: Math.floor(Date.now() / 1000) + 600, params: { scope: 'openid' } });
    await store.oidc.upsert('DeviceCode', sha256('device-code'), payload, {
      grantId: null,
      userCodeHash: USER_CODE,
      uidHash: null,
      expiresIn: 600,
    });
  }
  const guessLimits = (ipMax = 3, sessionMax = 5) => [
    limit('user-code:ip', ipMax, '203.0.113.7'),
    limit('user-code:session', sessionMax, 's'),
  ];

  it('a guess finds an existing code without spending anything, in one statement', async () => {
    await storeCode();
    for (let i = 0; i < 6; i++) {
      const [g, statements] = await sent(() => store.deviceCodes.guess(USER_CODE, guessLimits()));
      assert.equal(statements, 1);
      assert.equal(g.refused, undefined);
      assert.equal(g.row?.key_hash, sha256('device-code'));
      assert.equal(g.row?.payload.clientId, 'tv');
    }
    assert.equal(await count('user-code:ip', '203.0.113.7'), 0, 'a correct code is not a failed attempt');
  });

  it('misses are counted; past the limit every guess is refused, the correct code too, until the window ends', async () => {
    await storeCode();
    const misses: Array<number | undefined> = [];
    for (let i = 0; i < 5; i++) {
      const g = await store.deviceCodes.guess(sha256(`WRONG${i}`), guessLimits());
      assert.equal(g.row, undefined);
      misses.push(g.refused?.index);
    }
    assert.deepEqual(misses, [undefined, undefined, undefined, 0, 0]);
    assert.equal(await count('user-code:ip', '203.0.113.7'), 3, 'refused misses are not counted');
    assert.equal(await count('user-code:session', 's'), 3);
    const locked = await store.deviceCodes.guess(USER_CODE, guessLimits());
    assert.equal(locked.refused?.index, 0, 'a correct code past the limit is refused: no code is found by guessing on');
    assert.ok((locked.refused?.retryAfter ?? 0) >= 1 && (locked.refused?.retryAfter ?? 0) <= 60);
    assert.equal(await count('user-code:ip', '203.0.113.7'), 3, 'and counts nothing');
    await ageLimitWindows(db, 61);
    const after = await store.deviceCodes.guess(USER_CODE, guessLimits());
    assert.equal(after.refused, undefined, 'a new window lets the correct code through');
    assert.equal(after.row?.key_hash, sha256('device-code'));
  });

  it('a miss refused by the session limit gives the address its attempt back', async () => {
    const refusals: Array<number | undefined> = [];
    for (let i = 0; i < 4; i++) refusals.push((await store.deviceCodes.guess(sha256(`MISS${i}`), guessLimits(10, 2))).refused?.index);
    assert.deepEqual(refusals, [undefined, undefined, 1, 1]);
    assert.equal(await count('user-code:ip', '203.0.113.7'), 2, 'only the misses the session allowed are on the address');
    assert.equal(await count('user-code:session', 's'), 2);
    await storeCode();
    assert.equal(
      (await store.deviceCodes.guess(USER_CODE, guessLimits(10, 2))).refused?.index,
      1,
      'the full session limit refuses the correct code',
    );
  });

  it('parallel misses from one address are counted exactly', async () => {
    const guesses = await Promise.all(Array.from({ length: 20 }, (_, i) => store.deviceCodes.guess(sha256(`PAR${i}`), guessLimits(5, 50))));
    assert.equal(guesses.filter((g) => !g.refused).length, 5);
    assert.equal(await count('user-code:ip', '203.0.113.7'), 5);
    assert.equal(await count('user-code:session', 's'), 5);
  });

  it('an approval and its audit entry are recorded once, together, in one statement', async () => {
    const approval = {
      id: 'a1',
      kind: 'device' as const,
      accountId: 'acc',
      clientId: 'tv',
      grantId: 'g1',
      deviceIp: '198.51.100.4',
      deviceUa: 'TV',
      requestedAt: new Date(),
    };
    const audit = { action: 'device.approved', actorIp: '203.0.113.9', detail: { sameNetwork: false } };
    const [first, statements] = await sent(() => store.approvals.record(approval, audit));
    assert.equal(first, true);
    assert.equal(statements, 1);
    assert.equal(await store.approvals.record(approval, audit), false, 'the second time records nothing');
    const events = await db('audit_events').select('action', 'account_id', 'client_id', 'device_ip', 'device_ua', 'actor_ip', 'detail');
    assert.deepEqual(events, [
      {
        action: 'device.approved',
        account_id: 'acc',
        client_id: 'tv',
        device_ip: '198.51.100.4',
        device_ua: 'TV',
        actor_ip: '203.0.113.9',
        detail: { sameNetwork: false },
      },
    ]);
    assert.equal((await db('device_approvals').select('id')).length, 1);
    assert.equal(await store.approvals.record({ ...approval, id: 'a2' }), true, 'without an audit entry, the approval alone');
    assert.equal((await db('audit_events').select('id')).length, 1);
  });
});
