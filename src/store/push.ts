import type { Db } from './db.js';
import { sha256 } from './hash.js';

/** `vapid_keys` and `push_subscriptions` (migrations/20261205000500_web_push.ts). */
/** Browsers one account keeps notifications on for (the oldest beyond it is dropped). */
const MAX_PER_ACCOUNT = 5;
export interface PushSubscriptionRow {
  id: string;
  account_id: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  lang: string;
}

export function push(db: Db) {
  return {
    /** The deployment's VAPID keys, made by `make` the first time (one row; a race keeps the first insert). */
    async vapid(make: () => { publicKey: string; privateKey: string }): Promise<{ publicKey: string; privateKey: string }> {
      const found = await db('vapid_keys')
        .first<{ public_key: string; private_key: string } | undefined>('public_key', 'private_key')
        .where({ id: 1 });
      if (found) return { publicKey: found.public_key, privateKey: found.private_key };
      const made = make();
      await db('vapid_keys').insert({ id: 1, public_key: made.publicKey, private_key: made.privateKey }).onConflict('id').ignore();
      const row = await db('vapid_keys').first<{ public_key: string; private_key: string }>('public_key', 'private_key').where({ id: 1 });
      return { publicKey: row.public_key, privateKey: row.private_key };
    },
    /**
     * Adds (or renews) a browser's subscription for an account, keeping an account's newest {@link MAX_PER_ACCOUNT};
     * false when the endpoint is another account's (it stays theirs).
     */
    async subscribe(s: Omit<PushSubscriptionRow, 'id'> & { ua: string | null }): Promise<boolean> {
      const id = sha256(s.endpoint);
      return db.transaction(async (trx) => {
        const rows = await trx('push_subscriptions')
          .insert({ id, ...s })
          .onConflict('id')
          .merge(['p256dh', 'auth', 'lang', 'ua', 'created_at'])
          .where('push_subscriptions.account_id', s.account_id)
          .returning('id');
        if (!rows.length) return false;
        await trx('push_subscriptions')
          .delete()
          .where({ account_id: s.account_id })
          .whereNotIn(
            'id',
            trx('push_subscriptions').select('id').where({ account_id: s.account_id }).orderBy('created_at', 'desc').limit(MAX_PER_ACCOUNT),
          );
        return true;
      });
    },
    /** Every subscription of an account ends (its sessions all ended: sign out everywhere, a password reset). */
    async endAll(accountId: string): Promise<void> {
      await db('push_subscriptions').delete().where({ account_id: accountId });
    },
    async of(accountId: string): Promise<PushSubscriptionRow[]> {
      return db('push_subscriptions')
        .select<PushSubscriptionRow[]>('id', 'account_id', 'endpoint', 'p256dh', 'auth', 'lang')
        .where({ account_id: accountId })
        .limit(10);
    },
    async remove(id: string): Promise<void> {
      await db('push_subscriptions').delete().where({ id });
    },
  };
}
