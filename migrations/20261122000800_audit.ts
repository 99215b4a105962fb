import type { Knex } from 'knex';

/** Every approval, denial and revocation: who, which client, which device, from where, when. Append-only. */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id').primary();
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.text('action').notNullable();
    t.text('account_id');
    t.text('client_id');
    t.text('device_ip');
    t.text('device_ua');
    t.text('actor_ip');
    t.index(['at']);
    t.index(['account_id', 'at']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('audit_events');
}
