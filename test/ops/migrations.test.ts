import assert from 'node:assert/strict';
import { migrateLatest, migrateRollback, pendingMigrations } from '../../src/store/migrate.js';
import { sharedDb } from '../helpers/db.js';

describe('migrations', () => {
  it('apply, roll back completely, and apply again on the same database', async () => {
    const db = await sharedDb();
    await migrateLatest(db);
    assert.deepEqual(await pendingMigrations(db), []);
    await migrateRollback(db, true);
    assert.equal(await db.schema.hasTable('oidc_store'), false);
    assert.equal(await db.schema.hasTable('users'), false);
    assert.ok((await pendingMigrations(db)).length >= 4);
    const applied = await migrateLatest(db);
    assert.ok(applied.length >= 4);
    for (const table of ['oidc_store', 'clients', 'users', 'signing_keys', 'cookie_keys', 'rate_counters']) {
      assert.equal(await db.schema.hasTable(table), true, table);
    }
  });
});
