import type { Db } from './db.js';
import { isStorableText } from './hash.js';

/**
 * `identity_providers`, `account_links` and `upstream_logins` (accounts/upstream.ts). None is on a hot path: a
 * sign-in through an upstream runs a handful of statements, a device poll or decision none of them.
 *
 * An upstream round trip is a small state machine on one row, each step one guarded statement:
 *
 * ```
 *   started ──callback (state matches, this browser)──▶ exchanging ──verified──▶ verified ──finish──▶ used
 *                                                            └──────refused──────▶ (deleted)
 * ```
 * A second callback with the same `state` (a replayed code) finds no `started` row; a finish without a verified
 * row of this browser's interaction finds nothing.
 */
export interface IdentityProviderRow {
  id: string;
  name: string;
  issuer: string;
  client_id: string;
  client_secret: string | null;
  scopes: string[];
  enabled: boolean;
  create_accounts: boolean;
  link_verified_email: boolean;
  /** Whether the upstream's tokens are kept, sealed, on the link after a sign-in (off: dropped once it is checked). */
  keep_tokens: boolean;
  created_at: string;
  updated_at: string;
}

/** A link as the code reads it: never with its kept tokens (see {@link identityProviders} `keptTokens`). */
export interface AccountLink {
  provider_id: string;
  subject: string;
  account_id: string;
  email: string | null;
  created_at: string;
  last_used_at: string | null;
}
const LINK_COLUMNS = ['provider_id', 'subject', 'account_id', 'email', 'created_at', 'last_used_at'] as const;

export interface UpstreamLogin {
  state_hash: string;
  provider_id: string;
  purpose: 'interaction' | 'link';
  bound_to: string;
  status: string;
  account_id: string | null;
  amr: string[] | null;
}

export type IdentityProviderChange = Partial<
  Pick<
    IdentityProviderRow,
    'name' | 'issuer' | 'client_id' | 'client_secret' | 'scopes' | 'enabled' | 'create_accounts' | 'link_verified_email' | 'keep_tokens'
  >
>;

export function identityProviders(db: Db) {
  return {
    list(): Promise<IdentityProviderRow[]> {
      return db('identity_providers').select<IdentityProviderRow[]>('*').orderBy('created_at');
    },
    async find(id: string): Promise<IdentityProviderRow | undefined> {
      if (!isStorableText(id)) return undefined;
      return db('identity_providers').first<IdentityProviderRow | undefined>('*').where({ id });
    },
    /** Inserts an upstream; undefined when the id is taken. */
    async insert(row: Omit<IdentityProviderRow, 'created_at' | 'updated_at'>): Promise<IdentityProviderRow | undefined> {
      const rows = await db('identity_providers')
        .insert({ ...row, scopes: db.raw('?::text[]', [row.scopes]) })
        .onConflict('id')
        .ignore()
        .returning<IdentityProviderRow[]>('*');
      return rows[0];
    },
    /** Changes an upstream; turning `keep_tokens` off drops the tokens kept for its links, in the same transaction. */
    async update(id: string, change: IdentityProviderChange): Promise<IdentityProviderRow | undefined> {
      if (!isStorableText(id)) return undefined;
      const set: Record<string, unknown> = { ...change, updated_at: db.fn.now() };
      if (change.scopes) set.scopes = db.raw('?::text[]', [change.scopes]);
      return db.transaction(async (trx) => {
        const rows = await trx('identity_providers').update(set).where({ id }).returning<IdentityProviderRow[]>('*');
        if (rows[0] && change.keep_tokens === false)
          await trx('account_links').update({ tokens: null }).where({ provider_id: id }).whereNotNull('tokens');
        return rows[0];
      });
    },
    /** Deletes an upstream, its links and its round trips in flight; false when there was none. */
    async delete(id: string): Promise<boolean> {
      if (!isStorableText(id)) return false;
      return db.transaction(async (trx) => {
        const gone = await trx('identity_providers').delete().where({ id }).returning('id');
        if (gone.length === 0) return false;
        await trx('account_links').delete().where({ provider_id: id });
        await trx('upstream_logins').delete().where({ provider_id: id });
        return true;
      });
    },

    async link(providerId: string, subject: string): Promise<AccountLink | undefined> {
      if (!isStorableText(providerId) || !isStorableText(subject)) return undefined;
      return db('account_links')
        .first<AccountLink | undefined>([...LINK_COLUMNS])
        .where({ provider_id: providerId, subject });
    },
    linksOf(accountId: string): Promise<AccountLink[]> {
      return db('account_links')
        .select<AccountLink[]>([...LINK_COLUMNS])
        .where({ account_id: accountId })
        .orderBy('created_at');
    },
    /** The sealed tokens kept on a link (accounts/upstream.ts `keptTokens` opens them); null when none are kept. */
    async keptTokens(providerId: string, subject: string): Promise<string | null> {
      if (!isStorableText(providerId) || !isStorableText(subject)) return null;
      const row = await db('account_links')
        .first<{ tokens: string | null } | undefined>('tokens')
        .where({ provider_id: providerId, subject });
      return row?.tokens ?? null;
    },
    /**
     * Links (upstream, subject) to an account; false when that subject is already linked (to any account) or the
     * account already has a link to this upstream. One statement: two callbacks at once cannot both link. `tokens`:
     * the upstream's tokens, already sealed, or null.
     */
    async addLink(link: {
      providerId: string;
      subject: string;
      accountId: string;
      email: string | null;
      tokens: string | null;
    }): Promise<boolean> {
      const rows = await db('account_links')
        .insert({
          provider_id: link.providerId,
          subject: link.subject,
          account_id: link.accountId,
          email: link.email,
          tokens: link.tokens,
          last_used_at: db.fn.now(),
        })
        .onConflict()
        .ignore()
        .returning('subject');
      return rows.length > 0;
    },
    /** A sign-in through a link: its time, the upstream's address, and its tokens (sealed; null keeps none) replaced. */
    async touchLink(providerId: string, subject: string, email: string | null, tokens: string | null): Promise<void> {
      await db('account_links').update({ last_used_at: db.fn.now(), email, tokens }).where({ provider_id: providerId, subject });
    },
    /** Removes a link of this account; false when there was none. */
    async removeLink(accountId: string, providerId: string): Promise<boolean> {
      if (!isStorableText(providerId)) return false;
      const gone = await db('account_links').delete().where({ account_id: accountId, provider_id: providerId }).returning('subject');
      return gone.length > 0;
    },

    /** A round trip begins: its `state` (hashed), what it is bound to, and how long it may take. */
    async begin(row: { stateHash: string; providerId: string; purpose: 'interaction' | 'link'; boundTo: string; seconds: number }) {
      await db('upstream_logins').insert({
        state_hash: row.stateHash,
        provider_id: row.providerId,
        purpose: row.purpose,
        bound_to: row.boundTo,
        expires_at: db.raw(`now() + make_interval(secs => ?::int)`, [row.seconds]),
      });
    },
    /** The callback takes the round trip, once: `started` → `exchanging`, only while it is live. */
    async claim(stateHash: string, providerId: string): Promise<UpstreamLogin | undefined> {
      if (!isStorableText(stateHash) || !isStorableText(providerId)) return undefined;
      const rows = await db('upstream_logins')
        .update({ status: 'exchanging' })
        .where({ state_hash: stateHash, provider_id: providerId, status: 'started' })
        .andWhere('expires_at', '>', db.fn.now())
        .returning<UpstreamLogin[]>('*');
      return rows[0];
    },
    /** The upstream's answer checked out: `exchanging` → `verified`, with the account it signs in. */
    async verified(stateHash: string, accountId: string, amr: string[]): Promise<boolean> {
      const rows = await db('upstream_logins')
        .update({ status: 'verified', account_id: accountId, amr: db.raw('?::text[]', [amr]) })
        .where({ state_hash: stateHash, status: 'exchanging' })
        .returning('state_hash');
      return rows.length > 0;
    },
    /** A refused round trip leaves nothing behind. */
    async drop(stateHash: string): Promise<void> {
      await db('upstream_logins').delete().where({ state_hash: stateHash });
    },
    /** The sign-in takes the verified result, once: `verified` → `used`, for this interaction (or session) only. */
    async finish(stateHash: string, purpose: 'interaction' | 'link', boundTo: string): Promise<UpstreamLogin | undefined> {
      if (!isStorableText(stateHash) || !isStorableText(boundTo)) return undefined;
      const rows = await db('upstream_logins')
        .update({ status: 'used' })
        .where({ state_hash: stateHash, purpose, bound_to: boundTo, status: 'verified' })
        .andWhere('expires_at', '>', db.fn.now())
        .returning<UpstreamLogin[]>('*');
      return rows[0];
    },
  };
}

export type IdentityProviders = ReturnType<typeof identityProviders>;
