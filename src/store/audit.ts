import type { Db } from './db.js';

/** `audit_events`, append-only (the actions are listed in ops/audit.ts). */
export interface AuditRow {
  action: string;
  accountId?: string | null | undefined;
  clientId?: string | null | undefined;
  deviceIp?: string | null | undefined;
  deviceUa?: string | null | undefined;
  actorIp?: string | null | undefined;
  detail?: Record<string, unknown> | undefined;
}

export async function insertAudit(db: Db, e: AuditRow): Promise<void> {
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

export function audit(db: Db) {
  return {
    insert: (e: AuditRow) => insertAudit(db, e),
    async list(opts: { limit: number; accountId?: string | undefined; before?: number | undefined; action?: string | undefined }) {
      const q = db('audit_events')
        .select('id', 'at', 'action', 'account_id', 'client_id', 'device_ip', 'device_ua', 'actor_ip', 'detail')
        .orderBy('id', 'desc')
        .limit(opts.limit);
      if (opts.accountId) q.where({ account_id: opts.accountId });
      if (opts.before) q.where('id', '<', opts.before);
      if (opts.action) q.where((w) => w.where('action', opts.action ?? '').orWhere('action', 'like', `%.${opts.action}`));
      return q;
    },
  };
}

export type Audit = ReturnType<typeof audit>;
