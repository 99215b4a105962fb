import type { Db } from './db.js';
import { isStorableText } from './hash.js';

/**
 * `backchannel_requests` (migrations/20261205000400_backchannel_requests.ts): CIBA requests as the user's phone lists
 * and decides them.
 *
 * ```
 * pending ──(approve, one UPDATE … WHERE status = 'pending')──▶ approved
 *    ├──(decline)──▶ denied
 *    ├──("I didn't start this")──▶ reported
 *    └──(expires_at passes)──▶ (listed no more; the library answers expired_token)
 * ```
 */
export interface BackchannelRequest {
  id: string;
  request_key: string;
  sealed_id: string;
  account_id: string;
  client_id: string;
  scope: string;
  binding_message: string | null;
  acr_values: string | null;
  requester_ip: string | null;
  requester_ua: string | null;
  status: 'pending' | 'approved' | 'denied' | 'reported';
  created_at: Date | string;
  expires_at: Date | string;
}

const COLUMNS = [
  'id',
  'request_key',
  'sealed_id',
  'account_id',
  'client_id',
  'scope',
  'binding_message',
  'acr_values',
  'requester_ip',
  'requester_ua',
  'status',
  'created_at',
  'expires_at',
] as const;

export function backchannel(db: Db) {
  return {
    async insert(r: Omit<BackchannelRequest, 'status' | 'created_at' | 'expires_at'> & { seconds: number }): Promise<void> {
      const { seconds, ...row } = r;
      await db('backchannel_requests').insert({ ...row, expires_at: db.raw('now() + make_interval(secs => ?)', [seconds]) });
    },
    /**
     * The account's requests still waiting for it: each app's newest one (an app that asks again and again shows once,
     * so no app can bury another's request), newest first.
     */
    async pending(accountId: string): Promise<BackchannelRequest[]> {
      if (!isStorableText(accountId)) return [];
      const rows = await db.raw<{ rows: BackchannelRequest[] }>(
        `SELECT * FROM (
           SELECT DISTINCT ON (client_id) ${COLUMNS.join(', ')} FROM backchannel_requests
            WHERE account_id = ? AND status = 'pending' AND expires_at > now()
            ORDER BY client_id, created_at DESC
         ) newest ORDER BY created_at DESC LIMIT 20`,
        [accountId],
      );
      return rows.rows;
    },
    /** A request by its row key (the SHA-256 of `auth_req_id`): the token endpoint's held poll reads its state. */
    async byKey(key: string): Promise<Pick<BackchannelRequest, 'status'> | undefined> {
      return db('backchannel_requests').first<Pick<BackchannelRequest, 'status'> | undefined>('status').where({ request_key: key });
    },
    /** One request of the account (any state), by its public handle. */
    async find(accountId: string, id: string): Promise<BackchannelRequest | undefined> {
      if (!isStorableText(id) || !isStorableText(accountId)) return undefined;
      return db('backchannel_requests')
        .first<BackchannelRequest | undefined>([...COLUMNS])
        .where({ id, account_id: accountId });
    },
    /** The one decision of a pending, unexpired request: true for the call that made it. */
    async decide(accountId: string, id: string, status: 'approved' | 'denied' | 'reported'): Promise<BackchannelRequest | undefined> {
      if (!isStorableText(id)) return undefined;
      const rows = await db('backchannel_requests')
        .update({ status, decided_at: db.fn.now() })
        .where({ id, account_id: accountId, status: 'pending' })
        .andWhere('expires_at', '>', db.fn.now())
        .returning<BackchannelRequest[]>([...COLUMNS]);
      return rows[0];
    },
  };
}

export type Backchannel = ReturnType<typeof backchannel>;
