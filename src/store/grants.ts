import type { Db } from './db.js';
import { sha256 } from './hash.js';

/** Models whose single use is a security property: their rows are marked consumed on revocation, never deleted. */
const CODES = new Set(['AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest']);

/**
 * The one revoke-by-grant: deletes what grants access under a grant (tokens, and the grant itself) and marks its
 * codes consumed rather than deleting them, so a replayed code is still recognised as used (`invalid_grant`)
 * instead of looking unknown. With `models`, only those models' rows (oidc-provider revokes model by model);
 * without, everything, the grant included ("Your devices"). Run it inside a transaction.
 */
export async function revokeGrant(db: Db, grantId: string, models?: string[]): Promise<void> {
  const codes = models ? models.filter((m) => CODES.has(m)) : [...CODES];
  const others = models?.filter((m) => !CODES.has(m));
  if (codes.length) {
    await db('oidc_store')
      .update({ consumed_at: db.raw('COALESCE(consumed_at, now())') })
      .where({ grant_id: grantId })
      .whereIn('model', codes);
  }
  if (others === undefined) {
    await db('oidc_store')
      .delete()
      .where({ grant_id: grantId })
      .whereNotIn('model', [...CODES]);
    await db('oidc_store')
      .delete()
      .where({ model: 'Grant', key_hash: sha256(grantId) });
  } else if (others.length) {
    await db('oidc_store').delete().where({ grant_id: grantId }).whereIn('model', others);
  }
}
