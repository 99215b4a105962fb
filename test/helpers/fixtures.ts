import type { Db } from '../../src/storage/db.js';
import { sha256 } from '../../src/storage/hash.js';

/** Time, driven: moves a device code's answer into the past, as if `seconds` had passed since its tokens were issued. */
export async function ageAnswer(db: Db, deviceCode: string, seconds: number): Promise<void> {
  await db('oidc_store')
    .update({ answered_at: db.raw(`answered_at - make_interval(secs => ?::int)`, [seconds]) })
    .where({ model: 'DeviceCode', key_hash: sha256(deviceCode) });
}
