import type { Knex } from 'knex';

/**
 * A desktop scan grants exactly one relying party: the approving phone's authentication (`auth_time`, `amr`) is
 * carried over to the desktop's sign-in, and the sign-in is listed, and can be ended, beside device approvals
 * (`device_approvals.kind` = `device` | `desktop`).
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('qr_tickets', (t) => {
    t.bigInteger('auth_time');
    t.jsonb('amr');
  });
  await db.schema.alterTable('device_approvals', (t) => {
    t.text('kind').notNullable().defaultTo('device');
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('device_approvals', (t) => {
    t.dropColumn('kind');
  });
  await db.schema.alterTable('qr_tickets', (t) => {
    t.dropColumn('auth_time');
    t.dropColumn('amr');
  });
}
