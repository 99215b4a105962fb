import type { Knex } from 'knex';

/**
 * A device code's poll pacing (RFC 8628 3.5 `slow_down`): when its last accepted poll was, and its interval once
 * `slow_down` raised it. Every pending poll writes it, so it lives apart from the code, the way rate counters do
 * (20261201000600_ephemeral_counters.ts):
 *
 * - UNLOGGED: a poll writes no WAL and its commit waits for no flush. After a PostgreSQL crash the table is empty:
 *   the next poll of each code is accepted and its interval is the configured one again, which lets a client poll
 *   once sooner than it was told, nothing more. What decides who gets tokens (the code, its consumption, when it was
 *   answered) stays in `oidc_store`, logged.
 * - Room left on each page, so a poll is a HOT update that touches no index.
 * - `expires_at` is the code's: the purge removes a row with its code's lifetime.
 */
export async function up(db: Knex): Promise<void> {
  await db.raw(`CREATE UNLOGGED TABLE device_pacing (
    key_hash text PRIMARY KEY,
    last_polled_at timestamptz,
    poll_interval integer,
    expires_at timestamptz NOT NULL
  ) WITH (fillfactor = 50)`);
  await db.schema.alterTable('oidc_store', (t) => {
    t.dropColumn('last_polled_at');
    t.dropColumn('poll_interval');
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('oidc_store', (t) => {
    t.integer('poll_interval');
    t.timestamp('last_polled_at', { useTz: true });
  });
  await db.raw('DROP TABLE device_pacing');
}
