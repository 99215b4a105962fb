import type { Knex } from 'knex';

/**
 * Real-time handoff: when a phone first opened the code (`scanned`), and the hash of the opaque handle in
 * `status_uri` (a random value, never the device code).
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('oidc_store', (t) => {
    t.timestamp('scanned_at', { useTz: true });
    t.text('status_hash');
  });
  await db.raw('CREATE UNIQUE INDEX oidc_store_status ON oidc_store (status_hash) WHERE status_hash IS NOT NULL');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('DROP INDEX oidc_store_status');
  await db.schema.alterTable('oidc_store', (t) => {
    t.dropColumn('scanned_at');
    t.dropColumn('status_hash');
  });
}
