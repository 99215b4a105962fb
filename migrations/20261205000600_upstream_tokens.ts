import type { Knex } from 'knex';

/**
 * Upstream tokens kept after a sign-in (accounts/upstream.ts), only for an upstream whose operator asked for them
 * (`keep_tokens`, off by default): the access token, refresh token and expiry of the latest sign-in, sealed with
 * AES-256-GCM under a key derived from the cookie keys (`account_links.tokens`, never in clear). They live on the
 * link, so they go with it, and each sign-in replaces them.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('identity_providers', (t) => {
    t.boolean('keep_tokens').notNullable().defaultTo(false);
  });
  await db.schema.alterTable('account_links', (t) => {
    t.text('tokens');
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('account_links', (t) => {
    t.dropColumn('tokens');
  });
  await db.schema.alterTable('identity_providers', (t) => {
    t.dropColumn('keep_tokens');
  });
}
