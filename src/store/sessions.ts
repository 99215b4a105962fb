import type { Db } from './db.js';
import { sha256 } from './hash.js';
import type { Run } from './sql.js';

/**
 * An account's signed-in browser sessions (migrations/20261204000100_account_sessions.ts): oidc-provider's session
 * rows are which sessions exist, `account_sessions` says what a person needs to recognise each one.
 */
export interface AccountSession {
  uid: string;
  ip: string | null;
  ua: string | null;
  /** How it signed in: `password`, `passkey`, or `unknown` for a session older than this list. */
  method: string;
  signed_in_at: Date | string | null;
  last_used_at: Date | string | null;
}

/** Touches the description of a session that was used, at most once a minute per session (the WHERE says so). */
const TOUCH = {
  name: 'session-touch',
  text: `UPDATE account_sessions SET last_used_at = now() WHERE uid = $1 AND last_used_at < now() - interval '1 minute'`,
};

export function sessions(db: Db, run: Run) {
  return {
    /** A session signed in (or signed in again, as another account or with another method): described afresh. */
    async record(s: { uid: string; accountId: string; ip: string; ua: string | null; method: string }): Promise<void> {
      await db('account_sessions')
        .insert({ uid: s.uid, account_id: s.accountId, ip: s.ip, ua: s.ua, method: s.method })
        .onConflict('uid')
        .merge({ account_id: s.accountId, ip: s.ip, ua: s.ua, method: s.method, signed_in_at: db.fn.now(), last_used_at: db.fn.now() });
    },
    async touch(uid: string): Promise<void> {
      await run(TOUCH, [uid]);
    },
    /** The live sessions of an account, most recently used first, at most `limit` of them. */
    async list(accountId: string, limit = 20): Promise<AccountSession[]> {
      const rows = await db.raw<{ rows: AccountSession[] }>(
        `SELECT s.payload->>'uid' AS uid, a.ip, a.ua, COALESCE(a.method, 'unknown') AS method,
                COALESCE(a.signed_in_at, to_timestamp((s.payload->>'loginTs')::bigint)) AS signed_in_at, a.last_used_at
           FROM oidc_store s LEFT JOIN account_sessions a ON a.uid = s.payload->>'uid'
          WHERE s.model = 'Session' AND s.payload->>'accountId' = ? AND (s.expires_at IS NULL OR s.expires_at > now())
          ORDER BY a.last_used_at DESC NULLS LAST, signed_in_at DESC LIMIT ?`,
        [accountId, limit],
      );
      return rows.rows;
    },
    /** How many live sessions an account has. */
    async count(accountId: string): Promise<number> {
      const row = await db.raw<{ rows: Array<{ n: string }> }>(
        `SELECT count(*) AS n FROM oidc_store WHERE model = 'Session' AND payload->>'accountId' = ? AND (expires_at IS NULL OR expires_at > now())`,
        [accountId],
      );
      return Number(row.rows[0]?.n ?? 0);
    },
    /**
     * Ends every session of an account, but `keepUid` when given (the browser that asked), in one transaction: the
     * session rows go (so their cookies sign nobody in any more) and so do their descriptions. The sessions ended.
     */
    async endAll(accountId: string, keepUid?: string): Promise<number> {
      return db.transaction((trx) => endSessionsOf(trx, accountId, keepUid));
    },
  };
}

/** Ends every session of an account but `keepUid`, inside the caller's transaction (a password reset ends them too). */
export async function endSessionsOf(trx: Db, accountId: string, keepUid?: string): Promise<number> {
  const q = trx('oidc_store').delete().where({ model: 'Session' }).whereRaw(`payload->>'accountId' = ?`, [accountId]);
  if (keepUid) q.andWhere((w) => w.whereNull('uid_hash').orWhereNot({ uid_hash: sha256(keepUid) }));
  const ended = await q.returning('key_hash');
  const d = trx('account_sessions').delete().where({ account_id: accountId });
  if (keepUid) d.andWhereNot({ uid: keepUid });
  await d;
  // A subscription is not tied to one session: when sessions end, notifications stop until a phone turns them on again.
  await trx('push_subscriptions').delete().where({ account_id: accountId });
  return ended.length;
}
