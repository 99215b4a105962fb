import type { Db } from './db.js';
import { PUBLIC_COLUMNS, type User } from './user-columns.js';

export type { User } from './user-columns.js';
import { isStorableText } from './hash.js';
import { deleteForAccount } from './oidc.js';
import { type Run, retryDeadlocks } from './sql.js';

/** `users`. Usernames are unique case-insensitively (ASCII; see accounts/users.ts); only scrypt hashes are stored. */

/** By id: oidc-provider's `findAccount`, on every approval and token (a fixed statement, see sql.ts). */
const BY_ID = { name: 'user_by_id', text: `SELECT ${PUBLIC_COLUMNS.join(', ')} FROM users WHERE id = $1` };

export function users(db: Db, run: Run) {
  return {
    /**
     * Inserts a user (without a password: one made from an upstream sign-in); undefined when the username is taken.
     * `emailVerified: 'unless-claimed'` (an address someone else vouched for, an upstream's): verified only if no other
     * account has it verified, decided in the INSERT itself, so an address counts for one account only.
     */
    async insert(u: {
      id: string;
      username: string;
      passwordHash: string | null;
      name: string | null;
      email: string | null;
      emailVerified: boolean | 'unless-claimed';
    }): Promise<User | undefined> {
      const verified =
        u.email === null || u.emailVerified === false
          ? false
          : u.emailVerified === true
            ? true
            : db.raw('NOT EXISTS (SELECT 1 FROM users WHERE email_verified AND lower(email) = lower(?))', [u.email]);
      const rows = await db('users')
        .insert({
          id: u.id,
          username: u.username,
          password_hash: u.passwordHash,
          name: u.name,
          email: u.email,
          email_verified: verified,
        })
        .onConflict(db.raw('(lower(username))'))
        .ignore()
        .returning<User[]>([...PUBLIC_COLUMNS]);
      return rows[0];
    },
    list(): Promise<User[]> {
      return db('users')
        .select<User[]>([...PUBLIC_COLUMNS])
        .orderBy('created_at');
    },
    async byId(id: string): Promise<User | undefined> {
      if (!isStorableText(id)) return undefined;
      return (await run<User>(BY_ID, [id]))[0];
    },
    /**
     * The row used for sign-in, by the canonical (ASCII lower-case) username; the hash never leaves accounts/. An
     * account without a password (made from an upstream sign-in) has `password_hash` null: no password matches.
     */
    async credentials(canonical: string): Promise<{ id: string; password_hash: string | null } | undefined> {
      return db('users')
        .first<{ id: string; password_hash: string | null } | undefined>('id', 'password_hash')
        .whereRaw('lower(username) = ?', [canonical]);
    },
    /**
     * The account a CIBA `login_hint` names: its username (canonical form), or else its verified address (one
     * account only). One statement whether or not one matches.
     */
    async byLoginHint(hint: string): Promise<string | undefined> {
      if (!isStorableText(hint)) return undefined;
      const rows = await db.raw<{ rows: Array<{ id: string; by_name: boolean }> }>(
        `SELECT id, lower(username) = lower(?) AS by_name FROM users
          WHERE lower(username) = lower(?) OR (email_verified AND lower(email) = lower(?)) ORDER BY by_name DESC LIMIT 2`,
        [hint, hint, hint],
      );
      const [first, second] = rows.rows;
      return first && (first.by_name || !second) ? first.id : undefined;
    },
    /** The one account whose verified address is `email` (case-insensitively); undefined when none or several. */
    async byVerifiedEmail(email: string): Promise<User | undefined> {
      if (!isStorableText(email)) return undefined;
      const rows = await db('users')
        .select<User[]>([...PUBLIC_COLUMNS])
        .whereRaw('lower(email) = lower(?)', [email])
        .andWhere({ email_verified: true })
        .limit(2);
      return rows.length === 1 ? rows[0] : undefined;
    },
    async hasPassword(id: string): Promise<boolean> {
      if (!isStorableText(id)) return false;
      return !!(await db('users').first('id').where({ id }).whereNotNull('password_hash'));
    },
    /** Changes a user's name, email or password hash (a field left out stays; `null` clears name or email). */
    async update(
      id: string,
      change: { name?: string | null; email?: string | null; emailVerified?: boolean; passwordHash?: string },
    ): Promise<User | undefined> {
      if (!isStorableText(id)) return undefined;
      const set: Record<string, unknown> = {};
      if (change.name !== undefined) set.name = change.name;
      // A changed address is unverified until shown otherwise (an operator's change says it is).
      if (change.email !== undefined) set.email = change.email;
      if (change.email !== undefined || change.emailVerified !== undefined)
        set.email_verified = change.email !== null && (change.emailVerified ?? false);
      if (change.passwordHash !== undefined) set.password_hash = change.passwordHash;
      if (Object.keys(set).length === 0) return this.byId(id);
      const rows = await db('users')
        .update(set)
        .where({ id })
        .returning<User[]>([...PUBLIC_COLUMNS]);
      return rows[0];
    },
    /** Deletes a user and everything stored for them; false when there was no such user. */
    async delete(id: string): Promise<boolean> {
      if (!isStorableText(id)) return false;
      return retryDeadlocks(() =>
        db.transaction(async (trx) => {
          // RETURNING rather than the affected count: knex-pglite reports DELETE counts differently from pg.
          const gone = await trx('users').delete().where({ id }).returning('id');
          if (gone.length === 0) return false;
          await deleteForAccount(trx, id);
          await trx('consents').delete().where({ account_id: id });
          await trx('passkeys').delete().where({ account_id: id });
          await trx('account_links').delete().where({ account_id: id });
          return true;
        }),
      );
    },
  };
}

export type Users = ReturnType<typeof users>;
