import type { Knex } from 'knex';

/**
 * Backchannel approval (OpenID CIBA Core 1.0, ciba/): the requests a relying party made for a user, as the user's phone
 * lists and decides them. oidc-provider keeps the request itself (its `BackchannelAuthenticationRequest`, in
 * `oidc_store`); this row is what the phone shows and the one guarded state change of its decision:
 * pending → approved | denied | reported, by `UPDATE … WHERE status = 'pending'`. `id` is a random public handle (the
 * phone's URL), `request_key` the SHA-256 of `auth_req_id` (the row key of the library's request), `sealed_id` the
 * `auth_req_id` itself sealed with the cookie keys (AES-GCM; the decision hands it to the library, whose ping must
 * carry it), never in clear.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('backchannel_requests', (t) => {
    t.text('id').primary();
    t.text('request_key').notNullable().unique();
    t.text('sealed_id').notNullable();
    t.text('account_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.text('client_id').notNullable();
    t.text('scope').notNullable();
    t.text('binding_message');
    t.text('acr_values');
    t.text('requester_ip');
    t.text('requester_ua');
    t.text('status').notNullable().defaultTo('pending');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable().index();
    t.timestamp('decided_at', { useTz: true });
  });
  await db.raw("CREATE INDEX backchannel_requests_pending ON backchannel_requests (account_id, created_at) WHERE status = 'pending'");
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('backchannel_requests');
}
