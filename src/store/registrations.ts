import type { RegistrationPolicy } from '../config/schema.js';
import type { Db } from './db.js';
import { isStorableText, toJsonb } from './hash.js';

/**
 * `registration_tokens` and `client_registrations` (migrations/20261205000300_client_registration.ts): the initial
 * access tokens clients register with, and who registered each client.
 *
 * ```
 * issued ──(admit: registered < max_clients, not expired, not revoked; one UPDATE)──▶ issued (registered + 1)
 *    └──(revoke, or expiry)──▶ dead (admits nothing)
 * ```
 */
export interface RegistrationToken {
  id: string;
  label: string;
  kind: 'token' | 'open';
  policy: RegistrationPolicy;
  max_clients: number | null;
  registered: number;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

const COLUMNS = ['id', 'label', 'kind', 'policy', 'max_clients', 'registered', 'created_at', 'expires_at', 'revoked_at'] as const;

const parsed = (row: RegistrationToken): RegistrationToken => ({
  ...row,
  policy: typeof row.policy === 'string' ? (JSON.parse(row.policy) as RegistrationPolicy) : row.policy,
});

export function registrations(db: Db) {
  return {
    async insert(t: {
      id: string;
      tokenHash: string;
      label: string;
      kind: 'token' | 'open';
      policy: RegistrationPolicy;
      maxClients: number | null;
      expiresIn: number | null;
    }): Promise<RegistrationToken> {
      const rows = await db('registration_tokens')
        .insert({
          id: t.id,
          token_hash: t.tokenHash,
          label: t.label,
          kind: t.kind,
          policy: toJsonb(t.policy),
          max_clients: t.maxClients,
          expires_at: t.expiresIn === null ? null : db.raw('now() + make_interval(secs => ?)', [t.expiresIn]),
        })
        .returning<RegistrationToken[]>([...COLUMNS]);
      return parsed(rows[0] as RegistrationToken);
    },
    async list(): Promise<RegistrationToken[]> {
      const rows = await db('registration_tokens')
        .select<RegistrationToken[]>([...COLUMNS])
        .where({ kind: 'token' })
        .orderBy('created_at');
      return rows.map(parsed);
    },
    /** Revokes a token (it admits no more clients; those it registered stay); false when there is no live one. */
    async revoke(id: string): Promise<boolean> {
      if (!isStorableText(id)) return false;
      const rows = await db('registration_tokens')
        .update({ revoked_at: db.fn.now() })
        .where({ id, kind: 'token' })
        .whereNull('revoked_at')
        .returning('id');
      return rows.length > 0;
    },
    /** The token of this value, whatever its state (the policy needs it to say why it refuses). */
    async byHash(tokenHash: string): Promise<RegistrationToken | undefined> {
      const row = await db('registration_tokens')
        .first<RegistrationToken | undefined>([...COLUMNS])
        .where({ token_hash: tokenHash });
      return row ? parsed(row) : undefined;
    },
    /**
     * Admits one client under the token, if it is live and has room, and records which client and from where, in one
     * transaction: the count can never pass `max_clients` however many registrations race.
     */
    async admit(tokenHash: string, clientId: string, ip: string): Promise<RegistrationToken | undefined> {
      return db.transaction(async (trx) => {
        const rows = await trx('registration_tokens')
          .update({ registered: trx.raw('registered + 1') })
          .where({ token_hash: tokenHash })
          .whereNull('revoked_at')
          .andWhere((w) => w.whereNull('expires_at').orWhere('expires_at', '>', trx.fn.now()))
          .andWhere((w) => w.whereNull('max_clients').orWhereRaw('registered < max_clients'))
          .returning<RegistrationToken[]>([...COLUMNS]);
        const row = rows[0];
        if (!row) return undefined;
        await trx('client_registrations').insert({ client_id: clientId, token_id: row.id, ip }).onConflict('client_id').merge();
        return parsed(row);
      });
    },
    /** The token a client registered with (its policy bounds the client's own updates, RFC 7592). */
    async ofClient(clientId: string): Promise<RegistrationToken | undefined> {
      if (!isStorableText(clientId)) return undefined;
      const row = await db('client_registrations as c')
        .join('registration_tokens as t', 't.id', 'c.token_id')
        .first<RegistrationToken | undefined>(COLUMNS.map((c) => `t.${c}`))
        .where('c.client_id', clientId);
      return row ? parsed(row) : undefined;
    },
    /** Who registered each client that registered itself: client id → token id and label, address, when. */
    async registeredBy(): Promise<Map<string, { token_id: string; label: string; ip: string | null; registered_at: string }>> {
      const rows = await db('client_registrations as c')
        .join('registration_tokens as t', 't.id', 'c.token_id')
        .select<Array<{ client_id: string; token_id: string; label: string; ip: string | null; registered_at: string }>>(
          'c.client_id',
          'c.token_id',
          't.label',
          'c.ip',
          'c.registered_at',
        );
      return new Map(rows.map((r) => [r.client_id, { token_id: r.token_id, label: r.label, ip: r.ip, registered_at: r.registered_at }]));
    },
    async forgetClient(clientId: string): Promise<void> {
      await db('client_registrations').delete().where({ client_id: clientId });
    },
  };
}

export type Registrations = ReturnType<typeof registrations>;
