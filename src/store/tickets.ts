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
  /** Number matching: the number the desktop shows once claimed, and the three the phone offers. */
  match_number: number | null;
  match_choices: number[] | null;
  /** Why a denied ticket was denied, when not by the phone's Decline (`wrong_number`). */
  decline_reason: string | null;
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
  'match_number',
  'match_choices',
  'decline_reason',
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
  /** The ticket's number is this one (a right pick). */
  matchNumber?: number;
  /** The ticket has a number and it is not this one (a wrong pick). */
  mismatchNumber?: number;
  /** The account has not made too many wrong picks lately (its counter in `rate_counters` is not full). */
  notPaused?: { bucket: string; key: string; max: number; windowSeconds: number };
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
  matchNumber?: number;
  matchChoices?: number[];
  declineReason?: string;
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
      if (change.matchNumber !== undefined) set.match_number = change.matchNumber;
      if (change.matchChoices !== undefined) set.match_choices = db.raw('?::smallint[]', [change.matchChoices]);
      if (change.declineReason !== undefined) set.decline_reason = change.declineReason;
      const q = db('qr_tickets').where({ id });
      q.where((w) => {
        w.whereIn('state', guard.states);
        if (guard.orScannedBy) w.orWhere({ state: 'scanned', phone_session_hash: guard.orScannedBy });
      });
      if (guard.interactionHash) q.where({ interaction_hash: guard.interactionHash });
      if (guard.unexpired) q.where('expires_at', '>', db.fn.now());
      if (guard.matchNumber !== undefined) q.where({ match_number: guard.matchNumber });
      if (guard.mismatchNumber !== undefined) q.whereNotNull('match_number').whereNot({ match_number: guard.mismatchNumber });
      const paused = guard.notPaused;
      if (paused) {
        q.whereNotExists((s) =>
          s
            .select(db.raw('1'))
            .from('rate_counters')
            .where({ bucket: paused.bucket, key: paused.key })
            .where('count', '>=', paused.max)
            .where('window_start', '>', db.raw(`now() - make_interval(secs => ?::int)`, [paused.windowSeconds])),
        );
      }
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
