import type { Db } from './db.js';
import { isStorableText } from './hash.js';

/** `qr_tickets`: desktop scan-to-sign-in tickets (their life is drawn in qr-login/tickets.ts). */
export type TicketState = 'issued' | 'scanned' | 'approved' | 'denied' | 'expired' | 'used';

export interface Ticket {
  id: string;
  state: TicketState;
  client_id: string;
  scope: string | null;
  desktop_ip: string | null;
  desktop_ua: string | null;
  phone_ip: string | null;
  phone_session_hash: string | null;
  account_id: string | null;
  auth_time: number | string | null;
  amr: string[] | null;
  created_at: Date | string;
  expires_at: Date | string;
}

const COLUMNS = [
  'id',
  'state',
  'client_id',
  'scope',
  'desktop_ip',
  'desktop_ua',
  'phone_ip',
  'phone_session_hash',
  'account_id',
  'auth_time',
  'amr',
  'created_at',
  'expires_at',
];

/** What a guarded transition requires of the row it changes; every condition is part of the one UPDATE. */
export interface Guard {
  states: TicketState[];
  /** Also from `scanned`, but only when claimed by this phone session hash. */
  orScannedBy?: string;
  interactionHash?: string;
  unexpired?: boolean;
  /** The approving phone's session row still exists for the approving account. */
  phoneSessionAlive?: boolean;
}

export interface TicketChange {
  state: TicketState;
  phoneSessionHash?: string;
  accountId?: string;
  phoneIp?: string;
  authTime?: number;
  amr?: string[];
  /** A new expiry, seconds from now. */
  expiresIn?: number;
}

export function tickets(db: Db) {
  const one = (rows: Ticket[]) => rows[0];
  return {
    async insert(t: {
      id: string;
      secretHash: string;
      interactionHash: string;
      clientId: string;
      scope: string;
      ip: string;
      ua: string | undefined;
      seconds: number;
    }): Promise<void> {
      await db('qr_tickets').insert({
        id: t.id,
        ticket_hash: t.secretHash,
        interaction_hash: t.interactionHash,
        client_id: t.clientId,
        scope: t.scope,
        state: 'issued',
        desktop_ip: t.ip,
        desktop_ua: t.ua?.slice(0, 512) ?? null,
        expires_at: db.raw(`now() + make_interval(secs => ?::int)`, [t.seconds]),
      });
    },
    async forDesktop(id: string, interactionHash: string): Promise<Ticket | undefined> {
      if (!isStorableText(id)) return undefined;
      return db('qr_tickets').first<Ticket | undefined>(COLUMNS).where({ id, interaction_hash: interactionHash });
    },
    async bySecretHash(hash: string): Promise<Ticket | undefined> {
      return db('qr_tickets').first<Ticket | undefined>(COLUMNS).where({ ticket_hash: hash });
    },
    async byId(id: string): Promise<Ticket | undefined> {
      if (!isStorableText(id)) return undefined;
      return db('qr_tickets').first<Ticket | undefined>(COLUMNS).where({ id });
    },
    /** One guarded `UPDATE … WHERE <guard> RETURNING`: the changed ticket, or undefined when the guard refused. */
    async transition(id: string, change: TicketChange, guard: Guard): Promise<Ticket | undefined> {
      if (!isStorableText(id)) return undefined;
      const set: Record<string, unknown> = { state: change.state };
      if (change.phoneSessionHash !== undefined) set.phone_session_hash = change.phoneSessionHash;
      if (change.accountId !== undefined) set.account_id = change.accountId;
      if (change.phoneIp !== undefined) set.phone_ip = change.phoneIp;
      if (change.authTime !== undefined) set.auth_time = change.authTime;
      if (change.amr !== undefined) set.amr = JSON.stringify(change.amr);
      if (change.expiresIn !== undefined) set.expires_at = db.raw(`now() + make_interval(secs => ?::int)`, [change.expiresIn]);
      const q = db('qr_tickets').where({ id });
      q.where((w) => {
        w.whereIn('state', guard.states);
        if (guard.orScannedBy) w.orWhere({ state: 'scanned', phone_session_hash: guard.orScannedBy });
      });
      if (guard.interactionHash) q.where({ interaction_hash: guard.interactionHash });
      if (guard.unexpired) q.where('expires_at', '>', db.fn.now());
      if (guard.phoneSessionAlive) {
        q.whereExists((s) =>
          s
            .select(db.raw('1'))
            .from('oidc_store')
            .where('oidc_store.model', 'Session')
            .whereRaw('oidc_store.key_hash = qr_tickets.phone_session_hash')
            .whereRaw(`oidc_store.payload->>'accountId' = qr_tickets.account_id`)
            .where((e) => e.whereNull('oidc_store.expires_at').orWhere('oidc_store.expires_at', '>', db.fn.now())),
        );
      }
      return one(await q.update(set).returning<Ticket[]>(COLUMNS));
    },
  };
}

export type Tickets = ReturnType<typeof tickets>;
