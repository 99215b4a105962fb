import type { Db } from './db.js';
import { isStorableText, sha256 } from './hash.js';

/** `passkeys` and `webauthn_challenges` (migrations/20261201000800_passkeys.ts). */
export interface Passkey {
  id: string;
  account_id: string;
  public_key: Uint8Array;
  counter: number;
  transports: string[];
  backed_up: boolean;
  name: string;
  created_at: Date | string;
  last_used_at: Date | string | null;
  /** Where it was added from (null for passkeys added before this was recorded). */
  created_ip: string | null;
  created_ua: string | null;
}

export type ChallengePurpose = 'register' | 'authenticate';

export function passkeys(db: Db) {
  return {
    async insert(p: {
      id: string;
      accountId: string;
      publicKey: Uint8Array;
      counter: number;
      transports: string[];
      backedUp: boolean;
      name: string;
      createdIp?: string | null;
      createdUa?: string | null;
    }): Promise<boolean> {
      const rows = await db('passkeys')
        .insert({
          id: p.id,
          account_id: p.accountId,
          public_key: Buffer.from(p.publicKey),
          counter: p.counter,
          transports: p.transports,
          backed_up: p.backedUp,
          name: p.name,
          created_ip: p.createdIp ?? null,
          created_ua: p.createdUa ?? null,
        })
        .onConflict('id')
        .ignore()
        .returning('id');
      return rows.length > 0;
    },
    async find(id: string): Promise<Passkey | undefined> {
      if (!isStorableText(id)) return undefined;
      const row = await db('passkeys').first<Passkey | undefined>('*').where({ id });
      return row ? { ...row, counter: Number(row.counter), public_key: new Uint8Array(row.public_key) } : undefined;
    },
    async list(accountId: string): Promise<Passkey[]> {
      const rows = await db('passkeys').select<Passkey[]>('*').where({ account_id: accountId }).orderBy('created_at');
      return rows.map((r) => ({ ...r, counter: Number(r.counter) }));
    },
    /**
     * Records a use, in one statement that also refuses a counter that did not go forward (a cloned authenticator or
     * a replayed assertion); a counter of zero (authenticators that keep none) stays zero. False when refused.
     */
    async used(id: string, counter: number): Promise<boolean> {
      const rows = await db('passkeys')
        .update({ counter, last_used_at: db.fn.now() })
        .where({ id })
        .andWhere((w) =>
          w.where('counter', '<', counter).orWhere((z) => z.where('counter', 0).andWhere(db.raw('?::bigint = 0', [counter]))),
        )
        .returning('id');
      return rows.length > 0;
    },
    async rename(accountId: string, id: string, name: string): Promise<boolean> {
      return (await db('passkeys').update({ name }).where({ id, account_id: accountId }).returning('id')).length > 0;
    },
    /** Removes a passkey of this account: it stops working at once (every sign-in reads the row). */
    async remove(accountId: string, id: string): Promise<boolean> {
      return (await db('passkeys').delete().where({ id, account_id: accountId }).returning('id')).length > 0;
    },
    async issueChallenge(
      challenge: string,
      purpose: ChallengePurpose,
      binding: string,
      accountId: string | null,
      seconds: number,
    ): Promise<void> {
      await db('webauthn_challenges').insert({
        challenge_hash: sha256(challenge),
        purpose,
        binding: sha256(binding),
        account_id: accountId,
        expires_at: db.raw(`now() + make_interval(secs => ?)`, [seconds]),
      });
    },
    /** Takes a live challenge once (DELETE … RETURNING): true only for the first caller, for its purpose and binding. */
    async takeChallenge(challenge: string, purpose: ChallengePurpose, binding: string, accountId: string | null): Promise<boolean> {
      const q = db('webauthn_challenges')
        .delete()
        .where({ challenge_hash: sha256(challenge), purpose, binding: sha256(binding) })
        .andWhere('expires_at', '>', db.fn.now());
      if (accountId) q.andWhere({ account_id: accountId });
      return (await q.returning('challenge_hash')).length > 0;
    },
  };
}
