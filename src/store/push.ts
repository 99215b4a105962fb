import type { Db } from './db.js';
import { sha256 } from './hash.js';

/** `vapid_keys` and `push_subscriptions` (migrations/20261205000500_web_push.ts). */
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
    /** Adds (or renews) a browser's subscription for an account; an endpoint belongs to one account at a time. */
    async subscribe(s: Omit<PushSubscriptionRow, 'id'> & { ua: string | null }): Promise<void> {
      await db('push_subscriptions')
        .insert({ id: sha256(s.endpoint), ...s })
        .onConflict('id')
        .merge(['account_id', 'p256dh', 'auth', 'lang', 'ua']);
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
