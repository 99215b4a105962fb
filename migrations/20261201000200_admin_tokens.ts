import type { Knex } from 'knex';

/**
 * Admin API credentials: SHA-256 hashes of the generated admin tokens (each instance writes its own token to its
 * data directory; ADMIN_TOKEN, when set, is never stored). Audit events get a `detail` for admin changes.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('admin_tokens', (t) => {
    t.text('token_hash').primary();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });
  await db.schema.alterTable('audit_events', (t) => {
    t.jsonb('detail');
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('audit_events', (t) => {
    t.dropColumn('detail');
  });
  await db.schema.dropTable('admin_tokens');
}
