import type { Knex } from 'knex';

/**
 * When a device code's tokens were answered. A redemption that arrives after the answer is a replay and revokes
 * what the code issued (RFC 6749 4.1.2); one that arrived while the winner was still issuing is merely a lost race
 * and must not revoke the winner's tokens.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('oidc_store', (t) => {
    t.timestamp('answered_at', { useTz: true });
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('oidc_store', (t) => {
    t.dropColumn('answered_at');
  });
}
