import type { Db } from '../storage/db.js';

/**
 * The audit trail: `device.approved`, `device.denied`, `device.revoked`, `desktop.approved`, `desktop.denied`.
 * `device_*` describe the device that asked (TV, CLI, desktop browser); `actor_ip` is where the person acted from.
 */
export type AuditAction = 'device.approved' | 'device.denied' | 'device.revoked' | 'desktop.approved' | 'desktop.denied';

export interface AuditEvent {
  action: AuditAction;
  accountId?: string | null | undefined;
  clientId?: string | null | undefined;
  deviceIp?: string | null | undefined;
  deviceUa?: string | null | undefined;
  actorIp?: string | null | undefined;
}

export async function audit(db: Db, e: AuditEvent): Promise<void> {
  await db('audit_events').insert({
    action: e.action,
    account_id: e.accountId ?? null,
    client_id: e.clientId ?? null,
    device_ip: e.deviceIp ?? null,
    device_ua: e.deviceUa?.slice(0, 512) ?? null,
    actor_ip: e.actorIp ?? null,
  });
}

export async function listAudit(db: Db, opts: { limit: number; accountId?: string | undefined; before?: number | undefined }) {
  const q = db('audit_events')
    .select('id', 'at', 'action', 'account_id', 'client_id', 'device_ip', 'device_ua', 'actor_ip')
    .orderBy('id', 'desc')
    .limit(opts.limit);
  if (opts.accountId) q.where({ account_id: opts.accountId });
  if (opts.before) q.where('id', '<', opts.before);
  return q;
}
