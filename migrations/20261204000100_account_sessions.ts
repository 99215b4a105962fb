import type { Knex } from 'knex';

/**
 * The signed-in sessions of an account, as a person sees them on the account page: which browser, from where, how
 * it signed in, when it was last used. oidc-provider's session rows (`oidc_store`, model `Session`) stay the truth of
 * which sessions exist; `account_sessions` only describes them, keyed by the session's uid (stored in clear there
 * too, never a credential). An index on the session rows' account lets every session of an account be listed and
 * ended at once (a password reset, "sign out everywhere").
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('account_sessions', (t) => {
    t.text('uid').primary();
    t.text('account_id').notNullable().index();
    t.text('ip');
    t.text('ua');
    t.text('method').notNullable();
    t.timestamp('signed_in_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('last_used_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });
  await db.raw(`CREATE INDEX oidc_store_session_account ON oidc_store ((payload->>'accountId')) WHERE model = 'Session'`);
}

export async function down(db: Knex): Promise<void> {
  await db.raw('DROP INDEX oidc_store_session_account');
  await db.schema.dropTable('account_sessions');
}
