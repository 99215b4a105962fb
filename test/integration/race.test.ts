import assert from 'node:assert/strict';
import { type Db, openDb } from '../../src/storage/db.js';
import { migrateLatest } from '../../src/storage/migrate.js';
import { sharedDb, sharedEngine } from '../helpers/db.js';
import { Phone } from '../helpers/phone.js';
import { deviceAuthorization, redeem, startTestServer } from '../helpers/server.js';

/**
 * Many token requests redeem one approved device code at the same instant: exactly one gets tokens, every other
 * gets invalid_grant, none a 5xx. Runs on the shared database, and also on PGlite when that is PostgreSQL.
 */
const engines: Array<{ name: string; db: () => Promise<Db>; own: boolean }> = [{ name: 'shared', db: sharedDb, own: false }];

describe('concurrent redemption of one device code', () => {
  let extra: Db | undefined;
  before(async () => {
    if (sharedEngine() === 'postgres' || process.env.TEST_DATABASE_URL || process.env.DATABASE_URL) {
      extra = openDb({ dataDir: null });
      await migrateLatest(extra);
      engines.push({ name: 'pglite', db: async () => extra as Db, own: true });
    }
  });
  after(async () => {
    await extra?.destroy();
  });

  it('gives tokens to exactly one of 30 simultaneous requests, on every engine', async () => {
    for (const engine of engines) {
      const db = await engine.db();
      const server = await startTestServer({}, db);
      try {
        for (let round = 0; round < 3; round += 1) {
          const dc = await deviceAuthorization(server.publicUrl);
          await new Phone().approveDevice(dc.verification_uri_complete);
          const results = await Promise.all(Array.from({ length: 30 }, () => redeem(server.publicUrl, dc.device_code)));
          const statuses = results.map((r) => r.status);
          assert.equal(statuses.filter((s) => s === 200).length, 1, `${engine.name}: exactly one success, got ${statuses.join(',')}`);
          assert.ok(
            statuses.every((s) => s === 200 || s === 400),
            `${engine.name}: no 5xx (${statuses.join(',')})`,
          );
          assert.ok(
            results.filter((r) => r.status === 400).every((r) => r.json.error === 'invalid_grant'),
            `${engine.name}: losers get invalid_grant`,
          );
        }
      } finally {
        await server.close();
      }
    }
  });
});
