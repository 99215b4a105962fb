import type { Knex } from 'knex';

/**
 * Desktop scan-to-sign-in tickets. Only the ticket's hash is stored; a ticket is bound to one sign-in (the
 * interaction uid, itself bound to the desktop browser by oidc-provider's cookie) and, once scanned, to one phone
 * session. `state` moves issued → scanned → approved | denied → used; `expired` is written on rotation and
 * otherwise derived from `expires_at`.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('qr_tickets', (t) => {
    t.text('id').primary();
    t.text('ticket_hash').notNullable().unique();
    t.text('interaction_hash').notNullable();
    t.text('client_id').notNullable();
    t.text('scope');
    t.text('state').notNullable();
    t.text('desktop_ip');
    t.text('desktop_ua');
    t.text('phone_session_hash');
    t.text('phone_ip');
    t.text('account_id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['interaction_hash']);
    t.index(['expires_at']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('qr_tickets');
}
