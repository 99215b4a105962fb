import type { AdapterPayload } from 'oidc-provider';
import type { Db } from './db.js';
import { combine } from './combine.js';
import type { Run } from './sql.js';
import { type User, userColumnsAs, userFromColumns } from './user-columns.js';

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

/** An upsert replaces the row, but keeps a lookup hash that the new write leaves empty. */
const ON_CONFLICT = `ON CONFLICT (model, key_hash) DO UPDATE SET
      payload = excluded.payload,
      grant_id = excluded.grant_id,
      user_code_hash = COALESCE(excluded.user_code_hash, oidc_store.user_code_hash),
      uid_hash = COALESCE(excluded.uid_hash, oidc_store.uid_hash),
      expires_at = excluded.expires_at`;
const UPSERT = {
  name: 'oidc_upsert',
  text: `INSERT INTO oidc_store (model, key_hash, payload, grant_id, user_code_hash, uid_hash, expires_at)
    VALUES ($1, $2, $3::jsonb, $4, $5, $6, CASE WHEN $7::int > 0 THEN now() + make_interval(secs => $7::int) END)
    ${ON_CONFLICT}`,
};
/**
 * Upserts that arrive together are one statement ({@link combine}): a multi-row INSERT of the same columns, with the
 * same conflict rule as {@link UPSERT}. One statement may not touch a row twice, so two upserts of one row in a
 * batch are merged first, as running them in turn would leave it: the later payload, and the later non-null hash
 * over the earlier one (`COALESCE`). Payloads are embedded as they are (each is already JSON text).
 */
const UPSERT_MANY = {
  name: 'oidc_upsert_many',
  text: `INSERT INTO oidc_store (model, key_hash, payload, grant_id, user_code_hash, uid_hash, expires_at)
    SELECT m, k, p, g, u, d, CASE WHEN e > 0 THEN now() + make_interval(secs => e) END
    FROM jsonb_to_recordset($1::jsonb) AS t(m text, k text, p jsonb, g text, u text, d text, e int)
    ${ON_CONFLICT}`,
};

interface Upsert extends UpsertColumns {
  model: string;
  key: string;
  payloadJson: string;
}

/** At most this many upsert statements out at once per instance; upserts beyond wait and go out together. */
const IN_FLIGHT = 2;

async function sendUpserts(run: Run, list: Upsert[]): Promise<undefined[]> {
  if (list.length === 1) {
    const u = list[0] as Upsert;
    await run(UPSERT, [u.model, u.key, u.payloadJson, u.grantId, u.userCodeHash, u.uidHash, Math.trunc(u.expiresIn)]);
    return [undefined];
  }
  const rows = new Map<string, Upsert>();
  for (const u of list) {
    const id = `${u.model}\u0000${u.key}`;
    const before = rows.get(id);
    rows.set(id, before ? { ...u, userCodeHash: u.userCodeHash ?? before.userCodeHash, uidHash: u.uidHash ?? before.uidHash } : u);
  }
  // In key order, so two batches that share rows lock them in the same order and never wait on each other in a circle.
  const sorted = [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, u]) => u);
  const json = `[${sorted
    .map(
      (u) =>
        `{"m":${JSON.stringify(u.model)},"k":${JSON.stringify(u.key)},"p":${u.payloadJson},"g":${JSON.stringify(u.grantId)},` +
        `"u":${JSON.stringify(u.userCodeHash)},"d":${JSON.stringify(u.uidHash)},"e":${Math.trunc(u.expiresIn)}}`,
    )
    .join(',')}]`;
  await run(UPSERT_MANY, [json]);
  return list.map(() => undefined);
}

/**
 * A device code's decision steps as single conditional statements, so that of two requests racing to decide one code
 * (a double-tapped Approve, two tabs, Approve against Decline, a resumed sign-in submitted twice) exactly one is
 * recorded. oidc-provider reads the code and then saves it, and both readers see it undecided; here the write itself
 * checks the row it replaces, under the row's lock:
 * - a decided code is final: once it carries `error`, nothing more is written; once it carries `accountId`, only
 *   writes for that same grant (the approving request's own later save);
 * - `inFlight` (a person confirmed; the approval is under way) is claimed once: a claim (`inFlight` with no outcome)
 *   finds the row unclaimed, and a write that does not carry `inFlight` (a Decline read before the claim) finds it
 *   unclaimed too.
 * A code being created matches no row and is simply inserted. Returns whether the write was made.
 */
export const DECIDE_TEXT = `INSERT INTO oidc_store (model, key_hash, payload, grant_id, user_code_hash, uid_hash, expires_at)
    VALUES ($1, $2, $3::jsonb, $4, $5, $6, CASE WHEN $7::int > 0 THEN now() + make_interval(secs => $7::int) END)
    ${ON_CONFLICT}
    WHERE NOT oidc_store.payload ? 'error'
      AND (NOT oidc_store.payload ? 'accountId' OR oidc_store.payload->'grantId' = excluded.payload->'grantId')
      AND (NOT oidc_store.payload ? 'inFlight'
        OR (excluded.payload ? 'inFlight' AND (excluded.payload ? 'accountId' OR excluded.payload ? 'error')))
    RETURNING 1 AS ok`;
const DECIDE = { name: 'oidc_decide', text: DECIDE_TEXT };

/** The parameters of {@link DECIDE_TEXT}, `$1` to `$7`. */
export const decideParams = (model: string, key: string, payloadJson: string, c: UpsertColumns) => [
  model,
  key,
  payloadJson,
  c.grantId,
  c.userCodeHash,
  c.uidHash,
  Math.trunc(c.expiresIn),
];

const FIND = {
  name: 'oidc_find',
  text: 'SELECT payload, consumed_at, key_hash FROM oidc_store WHERE model = $1 AND key_hash = $2',
};
/** A session with its account's user (the pages and `findAccount` of the same request need it: oidc/handed-rows.ts). */
const SESSION = {
  name: 'oidc_find_session',
  text: `SELECT s.payload, s.consumed_at, s.key_hash, ${userColumnsAs('u', 'user_')}
    FROM oidc_store s LEFT JOIN users u ON u.id = s.payload->>'accountId'
    WHERE s.model = 'Session' AND s.key_hash = $1`,
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
  const upsert = combine<Upsert, undefined>((list) => sendUpserts(run, list), { maxInFlight: IN_FLIGHT, maxBatch: 128 });
  return {
    /** Inserts or replaces one model's row; settles once it is committed (possibly together with others). */
    async upsert(model: string, key: string, payloadJson: string, c: UpsertColumns): Promise<void> {
      await upsert({ model, key, payloadJson, ...c });
    },
    /** Writes one step of a device code's decision if the row still allows it ({@link DECIDE}); whether it did. */
    async decide(model: string, key: string, payloadJson: string, c: UpsertColumns): Promise<boolean> {
      return (await run(DECIDE, decideParams(model, key, payloadJson, c))).length > 0;
    },
    async find(model: string, key: string): Promise<OidcRow | undefined> {
      return (await run<OidcRow>(FIND, [model, key]))[0];
    },
    /** A session's row, and the user it is signed in as (undefined when it is not, or the user is gone). */
    async findSession(key: string): Promise<(OidcRow & { account?: User | undefined }) | undefined> {
      const read = (await run<OidcRow & Record<string, unknown>>(SESSION, [key]))[0];
      return (
        read && { payload: read.payload, consumed_at: read.consumed_at, key_hash: read.key_hash, account: userFromColumns(read, 'user_') }
      );
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
