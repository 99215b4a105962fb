import type { Knex } from 'knex';

/**
 * Passkeys (WebAuthn credentials) and their ceremonies' challenges.
 *
 * - `passkeys`: one row per credential: its id (base64url, as the browser gives it), the account, the COSE public key,
 *   the signature counter, transports, a name the user chose, and when it was added and last used.
 * - `webauthn_challenges`: each challenge Handoff issued, by its SHA-256, for one purpose and bound to one browser
 *   context (the session for registration, the sign-in's interaction for authentication); taken once, by DELETE,
 *   and purged when expired.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('passkeys', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable().index();
    t.binary('public_key').notNullable();
    t.bigInteger('counter').notNullable().defaultTo(0);
    t.specificType('transports', 'text[]').notNullable().defaultTo('{}');
    t.boolean('backed_up').notNullable().defaultTo(false);
    t.text('name').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('last_used_at', { useTz: true });
  });
  await db.schema.createTable('webauthn_challenges', (t) => {
    t.text('challenge_hash').primary();
    t.text('purpose').notNullable();
    t.text('binding').notNullable();
    t.text('account_id');
    t.timestamp('expires_at', { useTz: true }).notNullable().index();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('webauthn_challenges');
  await db.schema.dropTable('passkeys');
}
