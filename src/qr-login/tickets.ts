import { randomBytes, randomUUID } from 'node:crypto';
import { sha256 } from '../store/hash.js';
import type { Store } from '../store/index.js';
import type { MatchNumbers } from '../http/number-match.js';
import type { Ticket, TicketState } from '../store/tickets.js';

export type { Ticket, TicketState };

/**
 * The desktop ticket's life, one guarded statement per transition (none reads then writes):
 *
 *   issued ──claim (a phone's explicit POST)──▶ scanned ──decide──▶ approved ──use (the desktop's request)──▶ used
 *     │   └────────────────decide (claims and decides in one step)─────▶ approved | denied
 *     └─(rotation, or expires_at passes while issued/scanned)─▶ expired
 *
 * With number matching (on unless the client says `handoff_number_matching: false`): claim draws the number the
 * desktop shows and the three the phone offers; approve then needs the claim and the right pick (`scanned ──pick
 * right──▶ approved`), and a wrong pick declines (`scanned ──pick wrong──▶ denied`, reason `wrong_number`). A claim
 * by an account that picked wrong too often lately is refused until its window ends.
 *
 * Opening the ticket's link only reads. `scanned` belongs to one phone session; `approved` lives
 * `approvedSeconds` and is usable only while the approving phone's session (and so its account) still exists.
 * A transition that finds the ticket in any other state changes nothing and reports why, so a second phone, a
 * replayed ticket, or a late click each get a clear answer. Each transition is one `UPDATE … WHERE <guard>` in
 * store/tickets.ts; the guard of each is written here.
 */

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
  store: Store,
  opts: { interactionUid: string; clientId: string; scope: string; ip: string; ua: string | undefined; seconds: number },
): Promise<{ id: string; secret: string }> {
  const id = randomUUID();
  const secret = randomBytes(32).toString('base64url');
  await store.tickets.insert({
    id,
    secretHash: sha256(secret),
    interactionHash: sha256(opts.interactionUid),
    clientId: opts.clientId,
    scope: opts.scope,
    ip: opts.ip,
    ua: opts.ua,
    seconds: opts.seconds,
  });
  return { id, secret };
}

export const ticketForDesktop = (store: Store, id: string, interactionUid: string) => store.tickets.forDesktop(id, sha256(interactionUid));
export const ticketBySecret = (store: Store, secret: string) => store.tickets.bySecretHash(sha256(secret));
export const ticketById = (store: Store, id: string) => store.tickets.byId(id);

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

/** Wrong picks an account may make in a window before its phones' claims pause (see {@link wrongPickLimit}). */
export interface PickLimit {
  bucket: string;
  key: string;
  max: number;
  windowSeconds: number;
}

/** The counter of an account's wrong picks: three in ten minutes pause only that account's scans, briefly. */
export const wrongPickLimit = (accountId: string): PickLimit => ({
  bucket: 'number-match:account',
  key: accountId,
  max: 3,
  windowSeconds: 600,
});

/**
 * claim: issued → scanned by this phone session; it then has `confirmSeconds` to decide. Again from it: harmless.
 * With `numbers`, the ticket gets its number and choices in the same statement (used when its client matches
 * numbers), and the claim is refused while the account's wrong picks are at their limit.
 */
export async function claim(
  store: Store,
  id: string,
  phone: { sessionId: string; accountId: string; ip: string },
  confirmSeconds: number,
  numbers?: MatchNumbers,
): Promise<Ticket | undefined> {
  const mine = sha256(phone.sessionId);
  const claimed = await store.tickets.transition(
    id,
    {
      state: 'scanned',
      phoneSessionHash: mine,
      accountId: phone.accountId,
      phoneIp: phone.ip,
      expiresIn: confirmSeconds,
      ...(numbers ? { matchNumber: numbers.number, matchChoices: numbers.choices } : {}),
    },
    { states: ['issued'], unexpired: true, ...(numbers ? { notPaused: wrongPickLimit(phone.accountId) } : {}) },
  );
  if (claimed) return claimed;
  const now = await store.tickets.byId(id);
  return now && effectiveState(now) === 'scanned' && now.phone_session_hash === mine ? now : undefined;
}

/**
 * decide: issued | scanned-by-this-session → approved | denied, before it expires. An approval records the phone's
 * account and how it signed in, and leaves the desktop `approvedSeconds` to finish.
 */
export function decide(
  store: Store,
  id: string,
  phone: { sessionId: string; accountId: string; ip: string; authTime: number; amr: string[] },
  approve: boolean,
  approvedSeconds: number,
  /** Number matching: the approval needs this session's claim and the right number (`picked`). */
  matching?: { picked: number },
): Promise<Ticket | undefined> {
  const mine = sha256(phone.sessionId);
  const needsPick = approve && matching !== undefined;
  return store.tickets.transition(
    id,
    {
      state: approve ? 'approved' : 'denied',
      phoneSessionHash: mine,
      accountId: phone.accountId,
      phoneIp: phone.ip,
      authTime: phone.authTime,
      amr: phone.amr,
      ...(approve ? { expiresIn: approvedSeconds } : {}),
    },
    needsPick
      ? { states: [], orScannedBy: mine, unexpired: true, matchNumber: matching.picked }
      : { states: ['issued'], orScannedBy: mine, unexpired: true },
  );
}

/** pick wrong: scanned by this session, with a number that is not `picked` → denied (`wrong_number`). */
export function wrongPick(store: Store, id: string, phone: { sessionId: string; ip: string }, picked: number): Promise<Ticket | undefined> {
  return store.tickets.transition(
    id,
    { state: 'denied', phoneIp: phone.ip, declineReason: 'wrong_number' },
    { states: [], orScannedBy: sha256(phone.sessionId), unexpired: true, mismatchNumber: picked },
  );
}

/**
 * use: approved → used, only for the sign-in (interaction) the ticket was issued to, only before it expires, and
 * only while the approving phone's session still exists for the approving account.
 */
export function use(store: Store, id: string, interactionUid: string): Promise<Ticket | undefined> {
  return store.tickets.transition(
    id,
    { state: 'used' },
    { states: ['approved'], interactionHash: sha256(interactionUid), unexpired: true, phoneSessionAlive: true },
  );
}

/** retire: issued → expired for this sign-in's ticket (rotation: a fresh code invalidates the one it replaces). */
export async function retire(store: Store, id: string, interactionUid: string): Promise<boolean> {
  return (
    (await store.tickets.transition(id, { state: 'expired' }, { states: ['issued'], interactionHash: sha256(interactionUid) })) !==
    undefined
  );
}
