import type { AdapterPayload } from 'oidc-provider';
import type { Db } from './db.js';
import type { Run } from './sql.js';

/**
 * `oidc_store`: every model oidc-provider persists except clients, keyed by `(model, SHA-256 of the id)`. This
 * module only runs statements; what is hashed and how ids map to keys is the adapter's (oidc/adapter.ts).
 */
export interface OidcRow {
  payload: AdapterPayload;
  consumed_at: Date | string | null;
  key_hash: string;
}

export interface UpsertColumns {
  grantId: string | null;
  userCodeHash: string | null;
  uidHash: string | null;
  /** Seconds from now; 0 or less: no expiry. */
  expiresIn: number;
}

const UPSERT = {
  name: 'oidc_upsert',
  text: `INSERT INTO oidc_store (model, key_hash, payload, grant_id, user_code_hash, uid_hash, expires_at)
    VALUES ($1, $2, $3::jsonb, $4, $5, $6, CASE WHEN $7::int > 0 THEN now() + make_interval(secs => $7::int) END)
    ON CONFLICT (model, key_hash) DO UPDATE SET
      payload = excluded.payload,
      grant_id = excluded.grant_id,
      user_code_hash = COALESCE(excluded.user_code_hash, oidc_store.user_code_hash),
      uid_hash = COALESCE(excluded.uid_hash, oidc_store.uid_hash),
      expires_at = excluded.expires_at`,
};
const FIND = {
  name: 'oidc_find',
  text: 'SELECT payload, consumed_at, key_hash FROM oidc_store WHERE model = $1 AND key_hash = $2',
};
const BY_USER_CODE = {
  name: 'oidc_by_user_code',
  text: 'SELECT payload, consumed_at, key_hash FROM oidc_store WHERE model = $1 AND user_code_hash = $2',
};
const BY_UID = {
  name: 'oidc_by_uid',
  text: 'SELECT payload, consumed_at, key_hash FROM oidc_store WHERE model = $1 AND uid_hash = $2',
};
const CONSUME = {
  name: 'oidc_consume',
  text: 'UPDATE oidc_store SET consumed_at = now() WHERE model = $1 AND key_hash = $2 AND consumed_at IS NULL RETURNING 1 AS ok',
};
const DESTROY = { name: 'oidc_destroy', text: 'DELETE FROM oidc_store WHERE model = $1 AND key_hash = $2' };

/** Everything stored for an account (its user is being deleted); run inside that transaction. */
export async function deleteForAccount(trx: Db, accountId: string): Promise<void> {
  await trx('oidc_store').delete().whereRaw(`payload->>'accountId' = ?`, [accountId]);
}

/** Everything issued to a client (it is being deleted); run inside that transaction. */
export async function deleteForClient(trx: Db, clientId: string): Promise<void> {
  await trx('oidc_store').delete().whereRaw(`payload->>'clientId' = ?`, [clientId]);
}

export function oidcRows(run: Run) {
  return {
    async upsert(model: string, key: string, payloadJson: string, c: UpsertColumns): Promise<void> {
      await run(UPSERT, [model, key, payloadJson, c.grantId, c.userCodeHash, c.uidHash, Math.trunc(c.expiresIn)]);
    },
    async find(model: string, key: string): Promise<OidcRow | undefined> {
      return (await run<OidcRow>(FIND, [model, key]))[0];
    },
    async findByUserCode(model: string, userCodeHash: string): Promise<OidcRow | undefined> {
      return (await run<OidcRow>(BY_USER_CODE, [model, userCodeHash]))[0];
    },
    async findByUid(model: string, uidHash: string): Promise<OidcRow | undefined> {
      return (await run<OidcRow>(BY_UID, [model, uidHash]))[0];
    },
    /** Single conditional UPDATE: of many concurrent calls exactly one returns true. */
    async consume(model: string, key: string): Promise<boolean> {
      return (await run(CONSUME, [model, key])).length > 0;
    },
    async destroy(model: string, key: string): Promise<void> {
      await run(DESTROY, [model, key]);
    },
  };
}

export type OidcRows = ReturnType<typeof oidcRows>;
