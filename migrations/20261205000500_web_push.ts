import type { Knex } from 'knex';

/**
 * Web Push (RFC 8030, 8291, 8292) for backchannel approval (ciba/push.ts): this deployment's VAPID key pair, made once
 * (`vapid_keys`, one row), and each browser's push subscription an account turned on from its account page
 * (`push_subscriptions`, by the SHA-256 of its endpoint), with the language its notifications are written in.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('vapid_keys', (t) => {
    t.integer('id').primary();
    t.text('public_key').notNullable();
    t.text('private_key').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });
  await db.schema.createTable('push_subscriptions', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable().references('id').inTable('users').onDelete('CASCADE').index();
    t.text('endpoint').notNullable();
    t.text('p256dh').notNullable();
    t.text('auth').notNullable();
    t.text('lang').notNullable().defaultTo('en');
    t.text('ua');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('push_subscriptions');
  await db.schema.dropTable('vapid_keys');
}
