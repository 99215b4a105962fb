import type { Knex } from 'knex';

/**
 * Upstream OpenID Providers (accounts/upstream.ts): the providers an operator added (`identity_providers`), the
 * accounts linked to an upstream subject (`account_links`, keyed on upstream and `sub`), and the round trips in
 * flight (`upstream_logins`: keyed on the SHA-256 of `state`, used once; the nonce and PKCE verifier live only in
 * the browser's sealed cookie). Accounts made from an upstream have no password (`password_hash` may be null), and
 * an email address counts for linking only once verified (`email_verified`; addresses an operator typed are).
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('identity_providers', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    t.text('issuer').notNullable();
    t.text('client_id').notNullable();
    t.text('client_secret');
    t.specificType('scopes', 'text[]').notNullable();
    t.boolean('enabled').notNullable().defaultTo(true);
    t.boolean('create_accounts').notNullable().defaultTo(true);
    t.boolean('link_verified_email').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });
  await db.schema.createTable('account_links', (t) => {
    t.text('provider_id').notNullable();
    t.text('subject').notNullable();
    t.text('account_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.text('email');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('last_used_at', { useTz: true });
    t.primary(['provider_id', 'subject']);
    t.unique(['account_id', 'provider_id']);
  });
  await db.schema.createTable('upstream_logins', (t) => {
    t.text('state_hash').primary();
    t.text('provider_id').notNullable();
    /** `interaction`: a sign-in in progress (interaction uid); `link`: the account page (session uid). */
    t.text('purpose').notNullable();
    t.text('bound_to').notNullable();
    t.text('status').notNullable().defaultTo('started');
    t.text('account_id');
    t.specificType('amr', 'text[]');
    t.timestamp('expires_at', { useTz: true }).notNullable();
  });
  await db.raw('CREATE INDEX upstream_logins_bound ON upstream_logins (bound_to)');
  await db.raw('CREATE INDEX upstream_logins_expires ON upstream_logins (expires_at)');
  await db.schema.alterTable('users', (t) => {
    t.boolean('email_verified').notNullable().defaultTo(false);
  });
  await db.raw('ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL');
  // Addresses typed by an operator before this change are taken as verified, as new ones typed by an operator are.
  await db('users').whereNotNull('email').update({ email_verified: true });
}

export async function down(db: Knex): Promise<void> {
  await db('users').whereNull('password_hash').delete();
  await db.raw('ALTER TABLE users ALTER COLUMN password_hash SET NOT NULL');
  await db.schema.alterTable('users', (t) => {
    t.dropColumn('email_verified');
  });
  await db.schema.dropTable('upstream_logins');
  await db.schema.dropTable('account_links');
  await db.schema.dropTable('identity_providers');
}
