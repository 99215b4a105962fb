import type { Knex } from 'knex';

/**
 * Consent remembered per account and relying party, across browser sessions, until the user removes it on the
 * account page: the OpenID scopes the user allowed. A sign-in that asks for no more than these shows no consent page.
 * (Device authorizations never use it: each new device is confirmed on the phone.)
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('consents', (t) => {
    t.text('account_id').notNullable();
    t.text('client_id').notNullable();
    t.specificType('scopes', 'text[]').notNullable();
    t.timestamp('granted_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.primary(['account_id', 'client_id']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('consents');
}
