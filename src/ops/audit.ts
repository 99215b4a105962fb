import type { Db } from '../storage/db.js';

/**
 * The audit trail: every approval, denial and revocation of a device or desktop sign-in, and every change made
 * through the admin API. `device_*` describe the device that asked (TV, CLI, desktop browser); `actor_ip` is where
 * the person (or the admin caller) acted from; `detail` holds what an admin change changed (never a secret).
 */
export type AuditAction =
  | 'device.approved'
  | 'device.denied'
  | 'device.revoked'
  | 'desktop.approved'
  | 'desktop.denied'
  | 'desktop.revoked'
  | 'admin.user.created'
  | 'admin.user.deleted'
  | 'admin.client.created'
  | 'admin.client.deleted'
  | 'admin.keys.rotated'
  | 'admin.cookie_keys.rotated'
  | 'admin.db.migrated';

export interface AuditEvent {
  action: AuditAction;
  accountId?: string | null | undefined;
  clientId?: string | null | undefined;
  deviceIp?: string | null | undefined;
  deviceUa?: string | null | undefined;
  actorIp?: string | null | undefined;
  detail?: Record<string, unknown> | undefined;
}

export async function audit(db: Db, e: AuditEvent): Promise<void> {
  await db('audit_events').insert({
    action: e.action,
    account_id: e.accountId ?? null,
    client_id: e.clientId ?? null,
    device_ip: e.deviceIp ?? null,
    device_ua: e.deviceUa?.slice(0, 512) ?? null,
    actor_ip: e.actorIp ?? null,
    detail: e.detail ? JSON.stringify(e.detail) : null,
  });
}

export async function listAudit(
  db: Db,
  opts: { limit: number; accountId?: string | undefined; before?: number | undefined; action?: string | undefined },
) {
  const q = db('audit_events')
    .select('id', 'at', 'action', 'account_id', 'client_id', 'device_ip', 'device_ua', 'actor_ip', 'detail')
    .orderBy('id', 'desc')
    .limit(opts.limit);
  if (opts.accountId) q.where({ account_id: opts.accountId });
  if (opts.before) q.where('id', '<', opts.before);
  if (opts.action) q.where((w) => w.where('action', opts.action ?? '').orWhere('action', 'like', `%.${opts.action}`));
  return q;
}
