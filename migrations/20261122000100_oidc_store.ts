import type { Knex } from 'knex';

/**
 * What oidc-provider persists (sessions, interactions, grants, codes, tokens). Keys are SHA-256 hashes of the
 * ids the provider mints; user codes and session uids are hashed too. Expired rows stay until the purge's grace
 * period so a late poll still hears `expired_token` rather than `invalid_grant`.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('oidc_store', (t) => {
    t.text('model').notNullable();
    t.text('key_hash').notNullable();
    t.jsonb('payload').notNullable();
    t.text('grant_id');
    t.text('user_code_hash');
    t.text('uid_hash');
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('consumed_at', { useTz: true });
    t.primary(['model', 'key_hash']);
  });
  await db.raw('CREATE UNIQUE INDEX oidc_store_user_code ON oidc_store (user_code_hash) WHERE user_code_hash IS NOT NULL');
  await db.raw('CREATE INDEX oidc_store_uid ON oidc_store (model, uid_hash) WHERE uid_hash IS NOT NULL');
  await db.raw('CREATE INDEX oidc_store_grant ON oidc_store (grant_id) WHERE grant_id IS NOT NULL');
  await db.raw('CREATE INDEX oidc_store_expiry ON oidc_store (expires_at) WHERE expires_at IS NOT NULL');

  await db.schema.createTable('clients', (t) => {
    t.text('client_id').primary();
    t.jsonb('metadata').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('clients');
  await db.schema.dropTable('oidc_store');
}
