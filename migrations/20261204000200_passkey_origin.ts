import type { Knex } from 'knex';

/** Where each passkey was added from (its address and user agent), shown on the account page beside when. */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('passkeys', (t) => {
    t.text('created_ip');
    t.text('created_ua');
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('passkeys', (t) => {
    t.dropColumn('created_ip');
    t.dropColumn('created_ua');
  });
}
