import { randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../storage/db.js';
import { isStorableText, sha256 } from '../storage/hash.js';

/**
 * The desktop ticket's life, one guarded statement per transition (none reads then writes):
 *
 *   issued ──scan (first phone claims)──▶ scanned ──approve──▶ approved ──use (the desktop's own request)──▶ used
 *     │                                     └──────deny──────▶ denied
 *     └─(rotation, or expires_at passes while issued/scanned)─▶ expired
 *
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
  'created_at',
  'expires_at',
];

/** The state a reader should act on: issued/scanned tickets past `expires_at` are expired. */
export function effectiveState(t: Pick<Ticket, 'state' | 'expires_at'>, now = Date.now()): TicketState {
  if ((t.state === 'issued' || t.state === 'scanned') && new Date(t.expires_at).getTime() <= now) return 'expired';
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

/**
 * issued → scanned by this phone session, which claims the ticket; the phone then has `confirmSeconds` to decide.
 * Scanning again from the same session is harmless (it answers with the ticket as it is).
 */
export async function scan(
  db: Db,
  secret: string,
  phone: { sessionId: string; accountId: string; ip: string },
  confirmSeconds: number,
): Promise<{ ok: true; ticket: Ticket } | { ok: false; reason: 'unknown' | 'claimed' | 'expired' | 'used' | 'decided'; ticket?: Ticket }> {
  const found = await ticketBySecret(db, secret);
  if (!found) return { ok: false, reason: 'unknown' };
  const mine = sha256(phone.sessionId);
  const claimed = await transition(
    db,
    found.id,
    {
      state: 'scanned',
      phone_session_hash: mine,
      account_id: phone.accountId,
      phone_ip: phone.ip,
      expires_at: db.raw(`now() + make_interval(secs => ?::int)`, [confirmSeconds]),
    },
    (q) => q.where({ state: 'issued' }).where('expires_at', '>', db.fn.now()),
  );
  if (claimed) return { ok: true, ticket: claimed };
  const now = (await ticketById(db, found.id)) ?? found;
  const state = effectiveState(now);
  if (state === 'scanned' && now.phone_session_hash === mine) return { ok: true, ticket: now };
  if (state === 'scanned') return { ok: false, reason: 'claimed', ticket: now };
  if (state === 'used') return { ok: false, reason: 'used', ticket: now };
  if (state === 'approved' || state === 'denied')
    return { ok: false, reason: now.phone_session_hash === mine ? 'decided' : 'claimed', ticket: now };
  return { ok: false, reason: 'expired', ticket: now };
}

/** scanned → approved | denied, only by the phone session that claimed it, only before it expires. */
export async function decide(db: Db, id: string, phoneSessionId: string, approve: boolean): Promise<Ticket | undefined> {
  if (!isStorableText(id)) return undefined;
  return transition(db, id, { state: approve ? 'approved' : 'denied' }, (q) =>
    q.where({ state: 'scanned', phone_session_hash: sha256(phoneSessionId) }).where('expires_at', '>', db.fn.now()),
  );
}

/** approved → used, only for the sign-in (interaction) the ticket was issued to: the desktop's own request. */
export async function use(db: Db, id: string, interactionUid: string): Promise<Ticket | undefined> {
  if (!isStorableText(id)) return undefined;
  return transition(db, id, { state: 'used' }, (q) => q.where({ state: 'approved', interaction_hash: sha256(interactionUid) }));
}

/** issued → expired for this sign-in's ticket (rotation: a fresh code invalidates the one it replaces). */
export async function retire(db: Db, id: string, interactionUid: string): Promise<boolean> {
  if (!isStorableText(id)) return false;
  const t = await transition(db, id, { state: 'expired' }, (q) => q.where({ state: 'issued', interaction_hash: sha256(interactionUid) }));
  return t !== undefined;
}

export async function purgeTickets(db: Db): Promise<void> {
  await db('qr_tickets').delete().where('expires_at', '<', db.raw(`now() - interval '1 hour'`));
}
