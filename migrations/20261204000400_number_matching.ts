import type { Knex } from 'knex';

/**
 * Number matching for cross-device approvals: the number the waiting screen shows once a phone has the code, and the
 * three numbers the phone offers (that one and two others), for desktop tickets and for device codes; when a device
 * code's number was picked right (`matched_at`), and why a ticket was declined (`decline_reason`: `wrong_number`).
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('qr_tickets', (t) => {
    t.smallint('match_number');
    t.specificType('match_choices', 'smallint[]');
    t.text('decline_reason');
  });
  await db.schema.alterTable('oidc_store', (t) => {
    t.smallint('match_number');
    t.specificType('match_choices', 'smallint[]');
    t.timestamp('matched_at', { useTz: true });
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('oidc_store', (t) => {
    t.dropColumn('matched_at');
    t.dropColumn('match_choices');
    t.dropColumn('match_number');
  });
  await db.schema.alterTable('qr_tickets', (t) => {
    t.dropColumn('decline_reason');
    t.dropColumn('match_choices');
    t.dropColumn('match_number');
  });
}
