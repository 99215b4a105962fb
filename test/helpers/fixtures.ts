import type { Db } from '../../src/store/db.js';
import { sha256 } from '../../src/store/hash.js';

/** Time, driven: moves a device code's answer into the past, as if `seconds` had passed since its tokens were issued. */
export async function ageAnswer(db: Db, deviceCode: string, seconds: number): Promise<void> {
  await db('oidc_store')
    .update({ answered_at: db.raw(`answered_at - make_interval(secs => ?::int)`, [seconds]) })
    .where({ model: 'DeviceCode', key_hash: sha256(deviceCode) });
}

/** Time, driven: moves every session of an account's sign-in `seconds` into the past (its `auth_time`). */
export async function ageSignIn(db: Db, accountId: string, seconds: number): Promise<void> {
  await db('oidc_store')
    .update({ payload: db.raw(`jsonb_set(payload, '{loginTs}', to_jsonb((payload->>'loginTs')::bigint - ?::bigint))`, [seconds]) })
    .where({ model: 'Session' })
    .whereRaw(`payload->>'accountId' = ?`, [accountId]);
}

/** Time, driven: moves the expiry of every stored model row (but `except`, a key hash) `seconds` into the past. */
export async function ageRows(db: Db, seconds: number, opts: { except?: string } = {}): Promise<void> {
  const q = db('oidc_store').update({ expires_at: db.raw(`now() - make_interval(secs => ?::int)`, [seconds]) });
  if (opts.except) q.whereNot({ key_hash: opts.except });
  await q;
}

/** Time, driven: a device code that expires `seconds` from now (its `exp`, as oidc-provider stored it). */
export async function expireDeviceCodeIn(db: Db, deviceCode: string, seconds: number): Promise<void> {
  await db('oidc_store')
    .update({ payload: db.raw(`jsonb_set(payload, '{exp}', to_jsonb(extract(epoch from now())::bigint + ?::bigint))`, [seconds]) })
    .where({ model: 'DeviceCode', key_hash: sha256(deviceCode) });
}

/** Every limit's window ends now (what waiting out `windowSeconds` would do). */
export async function endLimitWindows(db: Db): Promise<void> {
  await db('rate_counters').delete();
}

/** Time, driven: every limit's window started `seconds` ago. */
export async function ageLimitWindows(db: Db, seconds: number): Promise<void> {
  await db('rate_counters').update({ window_start: db.raw(`now() - make_interval(secs => ?::int)`, [seconds]) });
}

/** Time, driven: the device code's last accepted poll was `seconds` ago. */
export async function agePoll(db: Db, deviceCode: string, seconds: number): Promise<void> {
  await db('device_pacing')
    .update({ last_polled_at: db.raw(`now() - make_interval(secs => ?::int)`, [seconds]) })
    .where({ key_hash: sha256(deviceCode) });
}

/** A browser session ended (signed out elsewhere, or expired and purged): its row is gone, its cookie stays. */
export async function endSession(db: Db, sessionId: string): Promise<void> {
  await db('oidc_store')
    .delete()
    .where({ model: 'Session', key_hash: sha256(sessionId) });
}

/** A live session row for a phone session id (what a phone signed in as `accountId` holds). */
export async function liveSession(db: Db, sessionId: string, accountId: string): Promise<void> {
  await db('oidc_store').insert({
    model: 'Session',
    key_hash: sha256(sessionId),
    payload: JSON.stringify({ accountId }),
    expires_at: db.raw(`now() + interval '1 hour'`),
  });
}

/** Time, driven: a desktop ticket's current life (issued, scanned or approved) ended a second ago. */
export async function expireTicket(db: Db, ticketId: string): Promise<void> {
  await db('qr_tickets')
    .update({ expires_at: db.raw(`now() - interval '1 second'`) })
    .where({ id: ticketId });
}

/** The desktops waiting with a ticket appear to be at `ip` (another network than the phone). */
export async function moveDesktops(db: Db, ip: string): Promise<void> {
  await db('qr_tickets').update({ desktop_ip: ip }).where({ state: 'issued' });
}
