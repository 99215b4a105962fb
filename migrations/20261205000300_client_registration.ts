import type { Knex } from 'knex';

/**
 * Client self-registration (RFC 7591/7592, oidc/registration.ts): the initial access tokens an operator issued, by the
 * SHA-256 of their value, each with the policy it registers clients under and how many it may still register
 * (`registered` counts up in the one guarded UPDATE that admits a client); and which token registered each client,
 * from where (`client_registrations`, shown by the admin API and CLI beside the client).
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('registration_tokens', (t) => {
    t.text('id').primary();
    t.text('token_hash').notNullable().unique();
    t.text('label').notNullable();
    /** `token`: issued by an operator; `open`: anonymous registration's (one per instance start). */
    t.text('kind').notNullable().defaultTo('token');
    t.jsonb('policy').notNullable();
    t.integer('max_clients');
    t.integer('registered').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
  });
  await db.schema.createTable('client_registrations', (t) => {
    t.text('client_id').primary();
    t.text('token_id').notNullable();
    t.text('ip');
    t.timestamp('registered_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('client_registrations');
  await db.schema.dropTable('registration_tokens');
}
