import type { Db } from './db.js';
import { revokeGrant } from './grants.js';
import { isStorableText } from './hash.js';
import { insertAudit, type AuditRow } from './audit.js';
import { DECIDE_TEXT, decideParams, type UpsertColumns } from './oidc.js';
import { type Run, retryDeadlocks } from './sql.js';

/**
 * `device_approvals`: what a user signed in elsewhere (device approvals, desktop scans and backchannel approvals),
 * each with a grant of its own, listed on "Your devices".
 */
export type ApprovalKind = 'device' | 'desktop' | 'ciba';

export interface DeviceApproval {
  id: string;
  kind: ApprovalKind;
  client_id: string;
  client_name: string | null;
  device_ip: string | null;
  device_ua: string | null;
  requested_at: Date | string | null;
  approved_at: Date | string;
}

export interface NewApproval {
  id: string;
  kind: ApprovalKind;
  accountId: string;
  clientId: string;
  grantId: string;
  deviceIp: string | null;
  deviceUa: string | null;
  requestedAt: Date | null;
}

/** What the audit trail says of an approval besides the approval's own fields (the action, who acted, from where). */
export type ApprovalAudit = Pick<AuditRow, 'action' | 'actorIp' | 'detail'>;

const RECORD = `INSERT INTO device_approvals (id, kind, account_id, client_id, grant_id, device_ip, device_ua, requested_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING RETURNING id`;
const RECORDS = { name: 'approval_record', text: RECORD };
/** The approval and, only when this statement recorded it, its audit entry: one statement, one commit. */
const RECORDS_AUDITED = {
  name: 'approval_record_audited',
  text: `WITH a AS (${RECORD})
    INSERT INTO audit_events (action, account_id, client_id, device_ip, device_ua, actor_ip, detail)
    SELECT $9, $3, $4, $6, $7, $10, $11::jsonb FROM a
    RETURNING 1 AS recorded`,
};
/**
 * The same, and the approval's id (a device approval's id is its handoff key) announced on `$12` in the same
 * statement (events/bus.ts `channel`), whether or not this statement recorded it: whoever waits re-reads the code.
 */
const RECORDS_AUDITED_ANNOUNCED = {
  name: 'approval_record_audited_announced',
  text: `WITH a AS (${RECORD}),
    e AS (INSERT INTO audit_events (action, account_id, client_id, device_ip, device_ua, actor_ip, detail)
      SELECT $9, $3, $4, $6, $7, $10, $11::jsonb FROM a RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM e) AS recorded, pg_notify($12, $1) AS announced`,
};

/**
 * A device code's approval and its record, in one statement: the code's approving write (store/oidc.ts
 * `DECIDE_TEXT`, `$1`-`$7`) and, only if that write was made, the approval for "Your devices" and its audit entry
 * (`$8`-`$15`), and with `$16` the announcement. So a code is never redeemable without its approval listed (and
 * ended with it), whatever fails between two statements.
 */
const decidedText = (announce: boolean) => `WITH d AS (${DECIDE_TEXT}),
    a AS (INSERT INTO device_approvals (id, kind, account_id, client_id, grant_id, device_ip, device_ua, requested_at)
      SELECT $2, 'device', $8, $9, $4, $10, $11, $12 FROM d ON CONFLICT (id) DO NOTHING RETURNING id),
    e AS (INSERT INTO audit_events (action, account_id, client_id, device_ip, device_ua, actor_ip, detail)
      SELECT $13, $8, $9, $10, $11, $14, $15::jsonb FROM a RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d) AS decided, EXISTS (SELECT 1 FROM a) AS recorded${
      announce ? `, CASE WHEN EXISTS (SELECT 1 FROM d) THEN pg_notify($16, $2) END AS announced` : ''
    }`;
const DECIDED = { name: 'approval_decided', text: decidedText(false) };
const DECIDED_ANNOUNCED = { name: 'approval_decided_announced', text: decidedText(true) };

/** What a device code's approving write records beside it ({@link approvals} `decided`). */
export interface ApprovalRecord {
  accountId: string;
  clientId: string;
  deviceIp: string | null;
  deviceUa: string | null;
  requestedAt: Date | null;
  audit: ApprovalAudit;
}

export function approvals(db: Db, run: Run) {
  return {
    /**
     * Records an approval once (by id), and with it its audit entry when one is given (approval, device and
     * account from the approval); true when this call recorded it. With `channel` (and an audit entry), the same
     * statement announces the approval's id on it ({@link RECORDS_AUDITED_ANNOUNCED}).
     */
    async record(a: NewApproval, audit?: ApprovalAudit, channel?: string): Promise<boolean> {
      const values = [a.id, a.kind, a.accountId, a.clientId, a.grantId, a.deviceIp, a.deviceUa?.slice(0, 512) ?? null, a.requestedAt];
      if (!audit) return (await run(RECORDS, values)).length > 0;
      const detail = audit.detail ? JSON.stringify(audit.detail) : null;
      if (channel) {
        const rows = await run<{ recorded: boolean }>(RECORDS_AUDITED_ANNOUNCED, [
          ...values,
          audit.action,
          audit.actorIp ?? null,
          detail,
          channel,
        ]);
        return rows[0]?.recorded === true;
      }
      return (await run(RECORDS_AUDITED, [...values, audit.action, audit.actorIp ?? null, detail])).length > 0;
    },
    /**
     * Writes a device code's approval (the code's row `key` in `model`) if the code still allows it, and records it
     * for "Your devices" with its audit entry in the same statement ({@link decidedText}); with `channel`, announces
     * the key on it too. Whether the write was made, and whether this statement recorded the approval.
     */
    async decided(
      model: string,
      key: string,
      payloadJson: string,
      columns: UpsertColumns,
      r: ApprovalRecord,
      channel?: string,
    ): Promise<{ decided: boolean; recorded: boolean }> {
      const values = [
        ...decideParams(model, key, payloadJson, columns),
        r.accountId,
        r.clientId,
        r.deviceIp,
        r.deviceUa?.slice(0, 512) ?? null,
        r.requestedAt,
        r.audit.action,
        r.audit.actorIp ?? null,
        r.audit.detail ? JSON.stringify(r.audit.detail) : null,
      ];
      const rows = await run<{ decided: boolean; recorded: boolean }>(
        channel ? DECIDED_ANNOUNCED : DECIDED,
        channel ? [...values, channel] : values,
      );
      return { decided: rows[0]?.decided === true, recorded: rows[0]?.recorded === true };
    },
    /**
     * The account's live sign-ins, newest first: not revoked here, and still holding their grant (oidc-provider
     * deletes a grant when it detects a replayed refresh token or code; a grant also ends when it expires).
     */
    async listLive(accountId: string): Promise<DeviceApproval[]> {
      return db('device_approvals as a')
        .leftJoin('clients as c', 'c.client_id', 'a.client_id')
        .select<DeviceApproval[]>(
          'a.id',
          'a.kind',
          'a.client_id',
          db.raw(`c.metadata->>'client_name' AS client_name`),
          'a.device_ip',
          'a.device_ua',
          'a.requested_at',
          'a.approved_at',
        )
        .where('a.account_id', accountId)
        .whereNull('a.revoked_at')
        .whereExists((q) =>
          q
            .select(db.raw('1'))
            .from('oidc_store as g')
            .where('g.model', 'Grant')
            .whereRaw(`g.key_hash = encode(sha256(convert_to(a.grant_id, 'UTF8')), 'hex')`)
            .where((e) => e.whereNull('g.expires_at').orWhere('g.expires_at', '>', db.fn.now())),
        )
        .orderBy('a.approved_at', 'desc')
        .limit(100);
    },
    /**
     * Ends one sign-in of this account in one transaction: marks it, records `audit(row)`, and revokes its grant
     * with every token issued under it. Undefined when there was nothing to end.
     */
    async revoke(accountId: string, id: string, audit: (row: { kind: ApprovalKind } & Omit<AuditRow, 'action'>) => AuditRow) {
      if (!isStorableText(id)) return undefined;
      return retryDeadlocks(() =>
        db.transaction(async (trx) => {
          const rows = await trx('device_approvals')
            .update({ revoked_at: trx.fn.now() })
            .where({ id, account_id: accountId })
            .whereNull('revoked_at')
            .returning<{ grant_id: string; client_id: string; device_ip: string | null; device_ua: string | null; kind: ApprovalKind }[]>([
              'grant_id',
              'client_id',
              'device_ip',
              'device_ua',
              'kind',
            ]);
          const row = rows[0];
          if (!row?.grant_id) return undefined;
          await insertAudit(
            trx,
            audit({ kind: row.kind, accountId, clientId: row.client_id, deviceIp: row.device_ip, deviceUa: row.device_ua }),
          );
          await revokeGrant(trx, row.grant_id);
          return row.kind;
        }),
      );
    },
  };
}

export type Approvals = ReturnType<typeof approvals>;
