import type { Knex } from 'knex';

/**
 * Signing keys and cookie keys. A rotated signing key keeps `retired_at` and stays published until
 * `publish_until`, when every token it signed has expired.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('signing_keys', (t) => {
    t.text('kid').primary();
    t.text('alg').notNullable();
    t.jsonb('private_jwk').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('retired_at', { useTz: true });
    t.timestamp('publish_until', { useTz: true });
  });
  await db.schema.createTable('cookie_keys', (t) => {
    t.increments('id').primary();
    t.text('secret').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('cookie_keys');
  await db.schema.dropTable('signing_keys');
}
