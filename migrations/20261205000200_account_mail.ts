import type { Knex } from 'knex';

/**
 * Links mailed to an account (accounts/self-service.ts): a confirmation of its email address, or a password reset.
 * Each is kept by the SHA-256 of its secret only, names the account and the address it was sent to, and is used once
 * (`used_at`, set by the one UPDATE that takes it) before `expires_at` (an hour at most). `users_email_lower` serves
 * the look-ups by address ("Forgot password", a sign-up's address already in use).
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('account_tokens', (t) => {
    t.text('token_hash').primary();
    t.text('kind').notNullable();
    t.text('account_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.text('email').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable().index();
    t.timestamp('used_at', { useTz: true });
  });
  await db.raw('CREATE INDEX account_tokens_account ON account_tokens (account_id, kind)');
  await db.raw('CREATE INDEX users_email_lower ON users (lower(email)) WHERE email IS NOT NULL');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('DROP INDEX IF EXISTS users_email_lower');
  await db.schema.dropTable('account_tokens');
}
