import type { Db } from './db.js';
import { isStorableText } from './hash.js';
import { deleteForAccount } from './oidc.js';
import { endSessionsOf } from './sessions.js';
import { retryDeadlocks } from './sql.js';

/**
 * `account_tokens`: links mailed to an account (migrations/20261205000200_account_mail.ts), by the SHA-256 of their
 * secret. Every way of using one is a single guarded UPDATE (`used_at IS NULL AND expires_at > now()`), so a link
 * works once however many requests race for it.
 *
 * ```
 * issued ──(the one UPDATE that takes it, before expiry)──▶ used
 *    └──(expiry, or another reset link of the account used first)──▶ dead
 * ```
 */
export type TokenKind = 'verify_email' | 'reset_password';

/**
 * "Forgot password": the account named by `identifier` (its username, or else its address; an identifier with '@' is
 * an address only, so no username can pass for someone's address), only if that address is verified, gets a reset
 * link, in one statement, so an unknown name and a known one cost the same statements.
 *
 * INSERT INTO account_tokens (...) SELECT $1, 'reset_password', id, email, now() + $3 s FROM (username match, else
 * verified-address match) LIMIT 1 RETURNING account_id, email
 */
const ISSUE_RESET = `WITH target AS (
    SELECT id, email, 0 AS rank FROM users WHERE lower(username) = lower(?) AND strpos(?, '@') = 0 AND email_verified AND email IS NOT NULL
    UNION ALL
    SELECT id, email, 1 AS rank FROM users WHERE lower(email) = lower(?) AND email_verified
  )
  INSERT INTO account_tokens (token_hash, kind, account_id, email, expires_at)
  SELECT ?, 'reset_password', id, email, now() + make_interval(secs => ?) FROM target ORDER BY rank, id LIMIT 1
  RETURNING account_id, email`;

export type Verified = { status: 'verified'; accountId: string; email: string } | { status: 'gone' | 'taken' | 'changed' | 'otherAccount' };

export function accountTokens(db: Db) {
  return {
    /** A new link for one account and address. */
    async issue(t: { hash: string; kind: TokenKind; accountId: string; email: string; seconds: number }): Promise<void> {
      await db('account_tokens').insert({
        token_hash: t.hash,
        kind: t.kind,
        account_id: t.accountId,
        email: t.email,
        expires_at: db.raw('now() + make_interval(secs => ?)', [t.seconds]),
      });
    },

    /** See {@link ISSUE_RESET}: the account and address a reset link was made for, or undefined (nothing written). */
    async issueReset(hash: string, identifier: string, seconds: number): Promise<{ account_id: string; email: string } | undefined> {
      if (!isStorableText(identifier)) return undefined;
      const result = await db.raw<{ rows: Array<{ account_id: string; email: string }> }>(ISSUE_RESET, [
        identifier,
        identifier,
        identifier,
        hash,
        seconds,
      ]);
      return result.rows[0];
    },

    /** Makes a link unusable (one the account's mail limit kept from being sent). */
    async discard(hash: string): Promise<void> {
      await db('account_tokens').update({ used_at: db.fn.now() }).where({ token_hash: hash }).whereNull('used_at');
    },

    /** Whether a link is live (not used, not expired), without taking it: the page that asks for a new password. */
    async live(hash: string, kind: TokenKind): Promise<boolean> {
      return !!(await db('account_tokens')
        .first('token_hash')
        .where({ token_hash: hash, kind })
        .whereNull('used_at')
        .andWhere('expires_at', '>', db.fn.now()));
    },

    /**
     * Takes a confirmation link, for the account signed in where it is used (`otherAccount`, untaken, when that is
     * another account: a person who clicks a link someone else's sign-up sent them confirms nothing): the address
     * it was sent to becomes verified, if it is still the account's address and no other account has verified it
     * meanwhile (`taken`; an address counts for one account only). One transaction; `gone` when the link was used,
     * expired or never existed.
     */
    async verifyEmail(hash: string, accountId: string): Promise<Verified> {
      return retryDeadlocks(() =>
        db.transaction(async (trx): Promise<Verified> => {
          const taken = await trx('account_tokens')
            .update({ used_at: trx.fn.now() })
            .where({ token_hash: hash, kind: 'verify_email', account_id: accountId })
            .whereNull('used_at')
            .andWhere('expires_at', '>', trx.fn.now())
            .returning<Array<{ account_id: string; email: string }>>(['account_id', 'email']);
          const row = taken[0];
          if (!row) {
            const live = await trx('account_tokens')
              .first('token_hash')
              .where({ token_hash: hash, kind: 'verify_email' })
              .whereNull('used_at')
              .andWhere('expires_at', '>', trx.fn.now());
            return { status: live ? 'otherAccount' : 'gone' };
          }
          const elsewhere = await trx('users')
            .first('id')
            .whereRaw('lower(email) = lower(?)', [row.email])
            .andWhere({ email_verified: true })
            .andWhereNot({ id: row.account_id });
          if (elsewhere) return { status: 'taken' };
          const updated = await trx('users')
            .update({ email_verified: true })
            .where({ id: row.account_id })
            .andWhereRaw('lower(email) = lower(?)', [row.email])
            .returning('id');
          return updated.length ? { status: 'verified', accountId: row.account_id, email: row.email } : { status: 'changed' };
        }),
      );
    },

    /**
     * Takes a reset link and sets the password, in one transaction: the link is used, every other reset link of the
     * account dies, every session of the account ends and every grant is revoked with its tokens. Undefined when the link was used or expired, or the
     * account's address changed since it was sent (the link was for that address).
     */
    async resetPassword(hash: string, passwordHash: string): Promise<{ accountId: string; ended: number; revoked: number } | undefined> {
      return retryDeadlocks(() =>
        db.transaction(async (trx) => {
          const taken = await trx('account_tokens')
            .update({ used_at: trx.fn.now() })
            .where({ token_hash: hash, kind: 'reset_password' })
            .whereNull('used_at')
            .andWhere('expires_at', '>', trx.fn.now())
            .returning<Array<{ account_id: string; email: string }>>(['account_id', 'email']);
          const row = taken[0];
          if (!row) return undefined;
          const updated = await trx('users')
            .update({ password_hash: passwordHash })
            .where({ id: row.account_id, email_verified: true })
            .andWhereRaw('lower(email) = lower(?)', [row.email])
            .returning('id');
          if (!updated.length) return undefined;
          await trx('account_tokens')
            .update({ used_at: trx.fn.now() })
            .where({ account_id: row.account_id, kind: 'reset_password' })
            .whereNull('used_at');
          // Whoever had access before the reset has none after: sessions, and every grant with its tokens (devices
          // and apps sign in again), as "Your devices" then shows.
          const ended = await endSessionsOf(trx, row.account_id);
          await deleteForAccount(trx, row.account_id);
          const revoked = await trx('device_approvals')
            .update({ revoked_at: trx.fn.now() })
            .where({ account_id: row.account_id })
            .whereNull('revoked_at')
            .returning('id');
          return { accountId: row.account_id, ended, revoked: revoked.length };
        }),
      );
    },
  };
}

export type AccountTokens = ReturnType<typeof accountTokens>;
