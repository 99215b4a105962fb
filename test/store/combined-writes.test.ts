import assert from 'node:assert/strict';
import { sha256 } from '../../src/store/hash.js';
import { createStore, type Store } from '../../src/store/index.js';
import { resetDb, sharedDb } from '../helpers/db.js';
import { ageLimitWindows } from '../helpers/fixtures.js';

/**
 * Writes that arrive together go out as one statement (store/combine.ts): counter hits and oidc-provider's upserts.
 * Every call here is issued in the same tick, so all but the first two wait for a slot and are combined; the
 * statement count proves it, and the answers must be exactly those of running the calls one after another.
 */
describe('combined writes on the store', () => {
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

  const counter = (key: string, max: number) => ({ bucket: 'test', key, windowSeconds: 60, max });

  it('a burst of hits on shared counters allows exactly max of each, in arrival order, in a few statements', async () => {
    const before = store.statementCount();
    const hits = await Promise.all(
      Array.from({ length: 120 }, (_, i) => store.counters.hit(counter(i % 3 === 0 ? 'a' : 'b', i % 3 === 0 ? 7 : 50))),
    );
    const sent = store.statementCount() - before;
    assert.ok(sent <= 4, `120 hits went out in ${sent} statements`);
    // The first two went out alone, each on its own connection, so they have no order against the rest (as two
    // pooled statements never had); inside the combined statement, hits are counted in arrival order.
    const allowed = (key: number) => hits.filter((h, i) => (i % 3 === 0) === (key === 0) && !h.refused).length;
    assert.equal(allowed(0), 7, 'exactly 7 hits on a are allowed');
    assert.equal(allowed(1), 50, 'exactly 50 hits on b are allowed');
    for (const key of [0, 1]) {
      const combined = hits.filter((_, i) => i >= 2 && (i % 3 === 0) === (key === 0)).map((h) => h.refused);
      assert.deepEqual(combined, [...combined].sort(), 'in the combined statement, every allowed hit came before every refused one');
    }
    for (const h of hits.filter((x) => x.refused)) assert.ok(h.retryAfter >= 1 && h.retryAfter <= 60);
    const rows = await db('rate_counters').select('key', 'count').orderBy('key');
    assert.deepEqual(
      rows.map((r) => [r.key, Number(r.count)]),
      [
        ['a', 7],
        ['b', 50],
      ],
      'refused hits are not counted',
    );
    // Later hits on full windows are refused too, alone or together.
    assert.equal((await store.counters.hit(counter('a', 7))).refused, true);
  });

  it('a window that has ended starts afresh inside a combined statement', async () => {
    await Promise.all(Array.from({ length: 10 }, () => store.counters.hit(counter('c', 5))));
    await ageLimitWindows(db, 61);
    const hits = await Promise.all(Array.from({ length: 8 }, () => store.counters.hit(counter('c', 5))));
    assert.equal(hits.filter((h) => !h.refused).length, 5, 'a fresh window of 5');
    assert.equal(Number((await db('rate_counters').where({ key: 'c' }).first()).count), 5);
  });

  it('hits from two stores at once (two instances) still count exactly', async () => {
    const other = createStore(db);
    try {
      const hits = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? store : other).counters.hit(counter('shared', 25))));
      assert.equal(hits.filter((h) => !h.refused).length, 25);
    } finally {
      await other.close();
    }
  });

  /**
   * Rounds of 24 concurrent calls each, from this store and a second one on the same database: none may fail (a
   * deadlock, which PostgreSQL breaks by failing one statement, would).
   */
  async function roundsFromTwoStores(rounds: number, calls: (s: Store, i: number) => Promise<unknown>[]): Promise<void> {
    const other = createStore(db);
    try {
      for (let round = 0; round < rounds; round += 1) {
        const work = Array.from({ length: 24 }, (_, i) => calls(i % 2 ? store : other, i)).flat();
        const results = await Promise.allSettled(work);
        assert.deepEqual(
          results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
          [],
          `round ${round}`,
        );
      }
    } finally {
      await other.close();
    }
  }

  it('combined hits and give-backs of several counters at once never wait on each other in a circle', async () => {
    const keys = ['k1', 'k2', 'k3', 'k4'];
    await roundsFromTwoStores(15, (s, i) => {
      const order = i % 3 ? keys : [...keys].reverse();
      const work: Promise<unknown>[] = [s.counters.hit(counter(order[i % 4] as string, 1000))];
      if (i % 4 === 0) work.push(s.counters.release(order.map((key) => ({ bucket: 'test', key }))));
      return work;
    });
  });

  it('chains in any order, lone hits and give-backs of the same counters at once never wait on each other in a circle', async () => {
    // The sign-in limits are listed address, pair, account: not the lock order, so they are counted one by one.
    const limit = (bucket: string, key: string) => ({ bucket, key, windowSeconds: 60, max: 1000 });
    const listed = [limit('login:address', 'a'), limit('login:pair', 'p'), limit('login:account', 'c')];
    const sorted = [limit('device-auth:address', 'a'), limit('device-auth:client', 'c')];
    await roundsFromTwoStores(10, (s, i) => {
      const work: Promise<unknown>[] = [s.counters.take(i % 3 ? listed : sorted), s.counters.hit(listed[i % 3] as (typeof listed)[number])];
      if (i % 4 === 0) work.push(s.counters.release(i % 8 ? listed : sorted));
      return work;
    });
  });

  it('a burst of upserts is stored as if each ran alone, in a few statements', async () => {
    const before = store.statementCount();
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        store.oidc.upsert('AccessToken', sha256(`t${i}`), JSON.stringify({ jti: `t${i}`, n: i }), {
          grantId: `g${i % 4}`,
          userCodeHash: null,
          uidHash: null,
          expiresIn: 60,
        }),
      ),
    );
    assert.ok(store.statementCount() - before <= 4, 'combined');
    for (const i of [0, 17, 59]) {
      const row = await store.oidc.find('AccessToken', sha256(`t${i}`));
      assert.deepEqual(row?.payload, { jti: `t${i}`, n: i });
    }
    assert.equal(Number((await db('oidc_store').where({ grant_id: 'g1' }).count<{ n: string }[]>({ n: '*' }))[0]?.n), 15);
  });

  it('two upserts of one row in one statement leave what running them in turn leaves', async () => {
    const key = sha256('dc');
    const put = (n: number, userCodeHash: string | null) =>
      store.oidc.upsert('DeviceCode', key, JSON.stringify({ n }), { grantId: null, userCodeHash, uidHash: null, expiresIn: 60 });
    // Two fillers take both slots, so the three writes of `dc` wait and share one statement.
    const before = store.statementCount();
    await Promise.all([
      store.oidc.upsert('Session', sha256('f1'), '{}', { grantId: null, userCodeHash: null, uidHash: null, expiresIn: 60 }),
      store.oidc.upsert('Session', sha256('f2'), '{}', { grantId: null, userCodeHash: null, uidHash: null, expiresIn: 60 }),
      put(1, sha256('UC1')),
      put(2, null),
      put(3, null),
    ]);
    assert.equal(store.statementCount() - before, 3, 'merged into one statement, not refused and sent again one by one');
    assert.deepEqual((await store.oidc.find('DeviceCode', key))?.payload, { n: 3 }, 'the last payload');
    assert.deepEqual((await store.oidc.findByUserCode('DeviceCode', sha256('UC1')))?.payload, { n: 3 }, 'the user code kept');
  });

  it('one upsert that cannot be stored fails alone; the others in its statement are stored', async () => {
    const cols = (userCodeHash: string | null) => ({ grantId: null, userCodeHash, uidHash: null, expiresIn: 60 });
    await store.oidc.upsert('DeviceCode', sha256('first'), '{"n":0}', cols(sha256('TAKEN')));
    const results = await Promise.allSettled([
      store.oidc.upsert('Session', sha256('f1'), '{}', cols(null)),
      store.oidc.upsert('Session', sha256('f2'), '{}', cols(null)),
      store.oidc.upsert('DeviceCode', sha256('ok1'), '{"n":1}', cols(sha256('FREE1'))),
      // Another code with a user code already taken: the unique index refuses it.
      store.oidc.upsert('DeviceCode', sha256('clash'), '{"n":2}', cols(sha256('TAKEN'))),
      store.oidc.upsert('DeviceCode', sha256('ok2'), '{"n":3}', cols(sha256('FREE2'))),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
    );
    assert.deepEqual((await store.oidc.find('DeviceCode', sha256('ok1')))?.payload, { n: 1 });
    assert.deepEqual((await store.oidc.find('DeviceCode', sha256('ok2')))?.payload, { n: 3 });
    assert.equal(await store.oidc.find('DeviceCode', sha256('clash')), undefined);
    assert.deepEqual((await store.oidc.findByUserCode('DeviceCode', sha256('TAKEN')))?.payload, { n: 0 });
  });
});
