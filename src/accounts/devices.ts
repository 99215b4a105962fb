import { audit } from '../ops/audit.js';
import type { Db } from '../storage/db.js';
import { isStorableText, sha256 } from '../storage/hash.js';

/** What a user approved through the device flow, recorded when the phone approves (device/device-code-adapter.ts). */
export interface DeviceApproval {
  id: string;
  client_id: string;
  client_name: string | null;
  device_ip: string | null;
  device_ua: string | null;
  requested_at: Date | string | null;
  approved_at: Date | string;
  revoked_at: Date | string | null;
}

export async function listApprovals(db: Db, accountId: string): Promise<DeviceApproval[]> {
  return db('device_approvals as a')
    .leftJoin('clients as c', 'c.client_id', 'a.client_id')
    .select<DeviceApproval[]>(
      'a.id',
      'a.client_id',
      db.raw(`c.metadata->>'client_name' AS client_name`),
      'a.device_ip',
      'a.device_ua',
      'a.requested_at',
      'a.approved_at',
      'a.revoked_at',
    )
    .where('a.account_id', accountId)
    .orderBy('a.approved_at', 'desc')
    .limit(100);
}

/**
 * Revokes one approval of this account: marks it and deletes its grant with every token issued under it, in one
 * transaction, so its access and refresh tokens stop working at once. False when there was nothing to revoke.
 */
export async function revokeApproval(db: Db, accountId: string, id: string, actorIp: string): Promise<boolean> {
  if (!isStorableText(id)) return false;
  return db.transaction(async (trx) => {
    const rows = await trx('device_approvals')
      .update({ revoked_at: trx.fn.now() })
      .where({ id, account_id: accountId })
      .whereNull('revoked_at')
      .returning<{ grant_id: string; client_id: string; device_ip: string | null; device_ua: string | null }[]>([
        'grant_id',
        'client_id',
        'device_ip',
        'device_ua',
      ]);
    const row = rows[0];
    const grantId = row?.grant_id;
    if (!row || !grantId) return false;
    await audit(trx, {
      action: 'device.revoked',
      accountId,
      clientId: row.client_id,
      deviceIp: row.device_ip,
      deviceUa: row.device_ua,
      actorIp,
    });
    await trx('oidc_store').delete().where({ grant_id: grantId }).whereNot({ model: 'DeviceCode' });
    await trx('oidc_store')
      .update({ consumed_at: trx.raw('COALESCE(consumed_at, now())') })
      .where({ grant_id: grantId, model: 'DeviceCode' });
    await trx('oidc_store')
      .delete()
      .where({ model: 'Grant', key_hash: sha256(grantId) });
    return true;
  });
}
