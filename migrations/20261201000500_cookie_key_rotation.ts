import type { Knex } from 'knex';

/**
 * Cookie keys rotate: a new key signs from the moment it is added, and the keys it replaced keep verifying until
 * `retire_after` (the longest a session or interaction signed with them can live), then they are dropped.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('cookie_keys', (t) => {
    t.timestamp('retire_after', { useTz: true });
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('cookie_keys', (t) => {
    t.dropColumn('retire_after');
  });
}
