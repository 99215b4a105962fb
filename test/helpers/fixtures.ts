import type { Db } from '../../src/storage/db.js';
import { sha256 } from '../../src/storage/hash.js';

/** Time, driven: moves a device code's answer into the past, as if `seconds` had passed since its tokens were issued. */
export async function ageAnswer(db: Db, deviceCode: string, seconds: number): Promise<void> {
  await db('oidc_store')
    .update({ answered_at: db.raw(`answered_at - make_interval(secs => ?::int)`, [seconds]) })
    .where({ model: 'DeviceCode', key_hash: sha256(deviceCode) });
}

/** Time, driven: moves every session of an account's sign-in `seconds` into the past (its `auth_time`). */
export async function ageSignIn(db: Db, accountId: string, seconds: number): Promise<void> {
  await db('oidc_store')
    .update({ payload: db.raw(`jsonb_set(payload, '{loginTs}', to_jsonb((payload->>'loginTs')::bigint - ?::bigint))`, [seconds]) })
    .where({ model: 'Session' })
    .whereRaw(`payload->>'accountId' = ?`, [accountId]);
}
