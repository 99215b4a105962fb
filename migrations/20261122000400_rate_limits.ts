import type { Knex } from 'knex';

/** Fixed-window counters shared by every instance (failed sign-ins now; code guessing and minting later). */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('rate_counters', (t) => {
    t.text('bucket').notNullable();
    t.text('key').notNullable();
    t.integer('count').notNullable();
    t.timestamp('window_start', { useTz: true }).notNullable();
    t.primary(['bucket', 'key']);
  });
  await db.raw('CREATE INDEX rate_counters_window ON rate_counters (window_start)');
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('rate_counters');
}
