import type { Knex } from 'knex';

/**
 * Capped counters: a refused attempt no longer counts (`refused` reports that the last hit was over the limit), and
 * each row knows its window so the purge can drop it as soon as the window ends.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('rate_counters', (t) => {
    t.boolean('refused').notNullable().defaultTo(false);
    t.integer('window_seconds');
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('rate_counters', (t) => {
    t.dropColumn('refused');
    t.dropColumn('window_seconds');
  });
}
