import type { Db } from '../storage/db.js';
import { sha256 } from '../storage/hash.js';

/** Models whose single use is a security property: their rows are marked consumed on revocation, never deleted. */
const CODES = ['AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest'];

/**
 * The one revoke-by-grant, used by oidc-provider's revocation (refresh-token or code replay, token revocation) and by
 * "Your devices": deletes the grant and every token issued under it, and marks its codes consumed rather than
 * deleting them, so a replayed code is still recognised as used (`invalid_grant`) instead of looking unknown. Run it
 * inside a transaction.
 */
export async function revokeGrant(db: Db, grantId: string): Promise<void> {
  await db('oidc_store')
    .update({ consumed_at: db.raw('COALESCE(consumed_at, now())') })
    .where({ grant_id: grantId })
    .whereIn('model', CODES);
  await db('oidc_store').delete().where({ grant_id: grantId }).whereNotIn('model', CODES);
  await db('oidc_store')
    .delete()
    .where({ model: 'Grant', key_hash: sha256(grantId) });
}
