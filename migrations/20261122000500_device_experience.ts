import type { Knex } from 'knex';

/**
 * Device flow pacing (RFC 8628 3.5) on the device code's own row, so one statement both reads a poll and applies
 * `slow_down`; and a durable record of each approval for the user's "Your devices" page (device codes themselves
 * are purged soon after they expire).
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('oidc_store', (t) => {
    t.integer('poll_interval');
    t.timestamp('last_polled_at', { useTz: true });
  });
  await db.schema.createTable('device_approvals', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable();
    t.text('client_id').notNullable();
    t.text('grant_id').notNullable();
    t.text('device_ip');
    t.text('device_ua');
    t.timestamp('requested_at', { useTz: true });
    t.timestamp('approved_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('revoked_at', { useTz: true });
    t.index(['account_id', 'approved_at']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('device_approvals');
  await db.schema.alterTable('oidc_store', (t) => {
    t.dropColumn('poll_interval');
    t.dropColumn('last_polled_at');
  });
}
