import type { Knex } from 'knex';

/**
 * Rate counters are ephemeral by nature (windows of seconds to minutes) and the hottest rows Handoff writes: every
 * device authorization from one address updates the same row.
 *
 * - UNLOGGED: they write no WAL. After a PostgreSQL crash the table is empty and every window starts afresh, which
 *   limits nothing less than a window that just ended.
 * - No index on `window_start` (only the purge read it; it scans this small table), and room left on each page,
 *   so a hit is a HOT update that touches no index at all.
 */
export async function up(db: Knex): Promise<void> {
  await db.raw('DROP INDEX IF EXISTS rate_counters_window');
  await db.raw('ALTER TABLE rate_counters SET UNLOGGED');
  await db.raw('ALTER TABLE rate_counters SET (fillfactor = 50)');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('ALTER TABLE rate_counters RESET (fillfactor)');
  await db.raw('ALTER TABLE rate_counters SET LOGGED');
  await db.raw('CREATE INDEX rate_counters_window ON rate_counters (window_start)');
}
