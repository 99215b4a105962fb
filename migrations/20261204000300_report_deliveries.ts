import type { Knex } from 'knex';

/**
 * The webhook deliveries of "I didn't start this" reports, queued in the database so they survive a restart and are
 * shared by every instance: one row per event, whose `id` is the event id the receiver sees on every attempt.
 * An instance takes due rows with `FOR UPDATE SKIP LOCKED` and a lease (`locked_until`): a delivery whose instance
 * died is taken again when its lease ends.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('report_deliveries', (t) => {
    t.uuid('id').primary();
    t.jsonb('payload').notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('next_attempt_at', { useTz: true }).notNullable().defaultTo(db.fn.now()).index();
    t.timestamp('locked_until', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now()).index();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('report_deliveries');
}
