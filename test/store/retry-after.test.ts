import assert from 'node:assert/strict';
import { type Db, engineOf } from '../../src/store/db.js';
import { sha256 } from '../../src/store/hash.js';
import { createStore } from '../../src/store/index.js';
import { bothEngines, type Engine, resetDb, serverUrl, sharedDb } from '../helpers/db.js';

/**
 * `Retry-After` never exceeds the window it refers to. A statement's `now()` is the start of its transaction: one that
 * waited on a counter's row lock while another connection opened the window a moment later saw more than the whole
 * window left (61 for a 60 s window). Driven two ways: a window opened "after" the statement began (both engines), and
 * a real lock wait on PostgreSQL.
 */
describe('Retry-After is bounded by its window', () => {
  let engines: Engine[] = [];
  let closeEngines = async () => {};
  before(async () => {
    ({ engines, close: closeEngines } = await bothEngines());
  });
  after(() => closeEngines());

  const limit = (key: string) => ({ bucket: 'retry', key, windowSeconds: 60, max: 1 });
  /** A full window on `key` that opened `ahead` seconds after now (as a transaction that began later opens it). */
  const fullWindow = (db: Db, key: string, ahead: number) =>
    db.raw(
      `INSERT INTO rate_counters (bucket, key, count, window_start, taken, window_seconds)
       VALUES ('retry', ?, 1, clock_timestamp() + make_interval(secs => ?), 1, 60)`,
      [key, ahead],
    );

  it('whatever the clocks say: a hit, a chain of limits and a user-code guess are told at most the window', async () => {
    for (const engine of engines) {
      const db = await engine.db();
      await resetDb(db);
      const store = createStore(db);
      try {
        await fullWindow(db, 'hit', 0.7);
        const hit = await store.counters.hit(limit('hit'));
        assert.equal(hit.refused, true);
        assert.ok(hit.retryAfter >= 1 && hit.retryAfter <= 60, `${engine.name} hit: ${hit.retryAfter}`);

        await fullWindow(db, 'chain-b', 0.7);
        const chain = await store.counters.take([limit('chain-a'), limit('chain-b')]);
        assert.equal(chain?.index, 1);
        assert.ok(chain && chain.retryAfter >= 1 && chain.retryAfter <= 60, `${engine.name} chain: ${chain?.retryAfter}`);

        // A guess of a code that exists, past a full limit, is refused with that limit's Retry-After.
        const userCode = 'BCDFGHJK';
        await db('oidc_store').insert({
          model: 'DeviceCode',
          key_hash: sha256('code'),
          payload: JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 600 }),
          user_code_hash: sha256(userCode),
        });
        await fullWindow(db, 'guess', 0.7);
        const found = await store.deviceCodes.guess(sha256(userCode), [limit('guess')]);
        assert.ok(found.refused, `${engine.name}: past the limit the guess is refused`);
        assert.ok(found.refused.retryAfter >= 1 && found.refused.retryAfter <= 60, `${engine.name} guess: ${found.refused.retryAfter}`);
      } finally {
        await store.close();
      }
    }
  });

  // Registered where a PostgreSQL server is configured (always in CI): embedded PGlite has one connection, which
  // cannot wait on another's lock (the test above covers its arithmetic).
  if (serverUrl())
    it('on PostgreSQL, a hit that waited on the row while another connection opened the window', async () => {
      const db = await sharedDb();
      assert.equal(engineOf(db), 'postgres');
      await resetDb(db);
      const store = createStore(db);
      try {
        await db.raw(`INSERT INTO rate_counters (bucket, key, count, window_start, taken, window_seconds)
                    VALUES ('retry', 'locked', 0, now() - interval '1 hour', 0, 60)`);
        const holder = await db.transaction();
        await holder.raw(`SELECT 1 FROM rate_counters WHERE bucket = 'retry' AND key = 'locked' FOR UPDATE`);
        const waiting = store.counters.hit(limit('locked'));
        // Wait for the event that matters: the hit is blocked on the row lock.
        for (let i = 0; i < 200; i += 1) {
          const blocked = await db.raw<{ rows: Array<{ n: string }> }>(`SELECT count(*) AS n FROM pg_locks WHERE NOT granted`);
          if (Number(blocked.rows[0]?.n) > 0) break;
          await new Promise((r) => setImmediate(r));
        }
        // The other connection opens the window now, after the waiting statement began, and fills it.
        await holder.raw(`UPDATE rate_counters SET count = 1, window_start = clock_timestamp() WHERE bucket = 'retry' AND key = 'locked'`);
        await holder.commit();
        const hit = await waiting;
        assert.equal(hit.refused, true);
        assert.ok(hit.retryAfter >= 1 && hit.retryAfter <= 60, `told ${hit.retryAfter} s for a 60 s window`);
      } finally {
        await store.close();
      }
    });
});
