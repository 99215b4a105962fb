import type { Knex } from 'knex';

/**
 * Counter hits that arrive together are counted by one statement (store/counters.ts). `taken` is how many of that
 * statement's hits on a row were counted: the first `taken` of them, in arrival order, are allowed and the rest
 * refused. `refused` (one hit, one flag) is no longer written; it stays for an instance of the previous release
 * still running beside this one during a rolling upgrade.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('rate_counters', (t) => {
    t.integer('taken').notNullable().defaultTo(0);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('rate_counters', (t) => {
    t.dropColumn('taken');
  });
}
