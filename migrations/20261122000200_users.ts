import type { Knex } from 'knex';

/** Accounts. Usernames are unique case-insensitively; passwords are stored as scrypt hashes only. */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('users', (t) => {
    t.text('id').primary();
    t.text('username').notNullable();
    t.text('password_hash').notNullable();
    t.text('name');
    t.text('email');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });
  await db.raw('CREATE UNIQUE INDEX users_username ON users (lower(username))');
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('users');
}
