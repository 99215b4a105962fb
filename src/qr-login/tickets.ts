import { randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../storage/db.js';
import { isStorableText, sha256 } from '../storage/hash.js';

/**
 * The desktop ticket's life, one guarded statement per transition (none reads then writes):
 *
 *   issued ──claim (a phone's explicit POST)──▶ scanned ──decide──▶ approved ──use (the desktop's request)──▶ used
 *     │   └────────────────decide (claims and decides in one step)─────▶ approved | denied
 *     └─(rotation, or expires_at passes while issued/scanned)─▶ expired
 *
 * Opening the ticket's link only reads. `scanned` belongs to one phone session; `approved` lives
 * `approvedSeconds` and is usable only while the approving phone's session (and so its account) still exists.
 * A transition that finds the ticket in any other state changes nothing and reports why, so a second phone, a
 * replayed ticket, or a late click each get a clear answer.
 */
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

/** The state a reader should act on: issued, scanned or approved tickets past `expires_at` are expired. */
export function effectiveState(t: Pick<Ticket, 'state' | 'expires_at'>, now = Date.now()): TicketState {
  if ((t.state === 'issued' || t.state === 'scanned' || t.state === 'approved') && new Date(t.expires_at).getTime() <= now)
    return 'expired';
  return t.state;
}

/** The bus key of a ticket (events name it by hash, like device codes). */
export const ticketKey = (id: string) => sha256(`qr-ticket:${id}`);

/** Issues a ticket for one sign-in; returns its id and the secret that goes into the QR code (256 bits). */
export async function issueTicket(
  db: Db,
  opts: { interactionUid: string; clientId: string; scope: string; ip: string; ua: string | undefined; seconds: number },
): Promise<{ id: string; secret: string }> {
  const id = randomUUID();
  const secret = randomBytes(32).toString('base64url');
  await db('qr_tickets').insert({
    id,
    ticket_hash: sha256(secret),
    interaction_hash: sha256(opts.interactionUid),
    client_id: opts.clientId,
    scope: opts.scope,
    state: 'issued',
    desktop_ip: opts.ip,
    desktop_ua: opts.ua?.slice(0, 512) ?? null,
    expires_at: db.raw(`now() + make_interval(secs => ?::int)`, [opts.seconds]),
  });
  return { id, secret };
}

export async function ticketForDesktop(db: Db, id: string, interactionUid: string): Promise<Ticket | undefined> {
  if (!isStorableText(id)) return undefined;
  return db('qr_tickets')
    .first<Ticket | undefined>(COLUMNS)
    .where({ id, interaction_hash: sha256(interactionUid) });
}

export async function ticketBySecret(db: Db, secret: string): Promise<Ticket | undefined> {
  return db('qr_tickets')
    .first<Ticket | undefined>(COLUMNS)
    .where({ ticket_hash: sha256(secret) });
}

export async function ticketById(db: Db, id: string): Promise<Ticket | undefined> {
  if (!isStorableText(id)) return undefined;
  return db('qr_tickets').first<Ticket | undefined>(COLUMNS).where({ id });
}

async function transition(
  db: Db,
  id: string,
  update: Record<string, unknown>,
  where: (q: ReturnType<Db>) => void,
): Promise<Ticket | undefined> {
  const q = db('qr_tickets').where({ id });
  where(q);
  const rows = await q.update(update).returning<Ticket[]>(COLUMNS);
  return rows[0];
}

/** Why a phone cannot act on a ticket it opened. */
export type Refusal = 'unknown' | 'claimed' | 'expired' | 'used' | 'decided';

/**
 * What a phone session may do with the ticket behind a secret, read-only: decide it (issued, or scanned by this
 * session), or a refusal saying why not.
 */
export function phoneView(t: Ticket | undefined, phoneSessionId: string): { ok: true; ticket: Ticket } | { ok: false; reason: Refusal } {
  if (!t) return { ok: false, reason: 'unknown' };
  const mine = t.phone_session_hash === sha256(phoneSessionId);
  const state = effectiveState(t);
  if (state === 'issued' || (state === 'scanned' && mine)) return { ok: true, ticket: t };
  if (state === 'scanned') return { ok: false, reason: 'claimed' };
  if (state === 'used') return { ok: false, reason: 'used' };
  if (state === 'approved' || state === 'denied') return { ok: false, reason: mine ? 'decided' : 'claimed' };
  return { ok: false, reason: 'expired' };
}

/**
 * issued → scanned by this phone session, which claims the ticket; the phone then has `confirmSeconds` to decide.
 * Claiming again from the same session is harmless.
 */
export async function claim(
  db: Db,
  id: string,
  phone: { sessionId: string; accountId: string; ip: string },
  confirmSeconds: number,
): Promise<Ticket | undefined> {
  if (!isStorableText(id)) return undefined;
  const mine = sha256(phone.sessionId);
  const claimed = await transition(
    db,
    id,
    {
      state: 'scanned',
      phone_session_hash: mine,
      account_id: phone.accountId,
      phone_ip: phone.ip,
      expires_at: db.raw(`now() + make_interval(secs => ?::int)`, [confirmSeconds]),
    },
    (q) => q.where({ state: 'issued' }).where('expires_at', '>', db.fn.now()),
  );
  if (claimed) return claimed;
  const now = await ticketById(db, id);
  return now && effectiveState(now) === 'scanned' && now.phone_session_hash === mine ? now : undefined;
}

/**
 * issued | scanned-by-this-session → approved | denied, before it expires. An approval records the phone's account
 * and how it signed in, and leaves the desktop `approvedSeconds` to finish.
 */
export async function decide(
  db: Db,
  id: string,
  phone: { sessionId: string; accountId: string; ip: string; authTime: number; amr: string[] },
  approve: boolean,
  approvedSeconds: number,
): Promise<Ticket | undefined> {
  if (!isStorableText(id)) return undefined;
  const mine = sha256(phone.sessionId);
  return transition(
    db,
    id,
    {
      state: approve ? 'approved' : 'denied',
      phone_session_hash: mine,
      account_id: phone.accountId,
      phone_ip: phone.ip,
      auth_time: phone.authTime,
      amr: JSON.stringify(phone.amr),
      ...(approve ? { expires_at: db.raw(`now() + make_interval(secs => ?::int)`, [approvedSeconds]) } : {}),
    },
    (q) =>
      q
        .where((w) => w.where({ state: 'issued' }).orWhere({ state: 'scanned', phone_session_hash: mine }))
        .where('expires_at', '>', db.fn.now()),
  );
}

/**
 * approved → used, only for the sign-in (interaction) the ticket was issued to, only before it expires, and only
 * while the approving phone's session still exists for the approving account.
 */
export async function use(db: Db, id: string, interactionUid: string): Promise<Ticket | undefined> {
  if (!isStorableText(id)) return undefined;
  return transition(db, id, { state: 'used' }, (q) =>
    q
      .where({ state: 'approved', interaction_hash: sha256(interactionUid) })
      .where('expires_at', '>', db.fn.now())
      .whereExists((s) =>
        s
          .select(db.raw('1'))
          .from('oidc_store')
          .where('oidc_store.model', 'Session')
          .whereRaw('oidc_store.key_hash = qr_tickets.phone_session_hash')
          .whereRaw(`oidc_store.payload->>'accountId' = qr_tickets.account_id`)
          .where((e) => e.whereNull('oidc_store.expires_at').orWhere('oidc_store.expires_at', '>', db.fn.now())),
      ),
  );
}

/** issued → expired for this sign-in's ticket (rotation: a fresh code invalidates the one it replaces). */
export async function retire(db: Db, id: string, interactionUid: string): Promise<boolean> {
  if (!isStorableText(id)) return false;
  const t = await transition(db, id, { state: 'expired' }, (q) => q.where({ state: 'issued', interaction_hash: sha256(interactionUid) }));
  return t !== undefined;
}
