import { findUserById } from '../accounts/users.js';
import type { Db } from '../storage/db.js';

/**
 * The state of a device handoff as waiting screens see it, derived from the device code's row:
 *
 *   pending ──(phone opens the link or enters the code)──▶ scanned ──▶ approved | denied
 *      └──────────────────────────(lifetime ends undecided)──────────▶ expired
 *
 * Each transition is written by one statement elsewhere (the adapter's upsert, {@link markScanned}); this module
 * only reads, so a reader woken by a notification always sees committed state.
 */
export type HandoffState = 'pending' | 'scanned' | 'approved' | 'denied' | 'expired';

export interface Handoff {
  key: string;
  state: HandoffState;
  /** Seconds since the epoch when the code expires. */
  exp: number;
  accountId?: string;
}

type Row = { key_hash: string; payload: { exp?: number; accountId?: string; error?: string }; scanned_at: Date | string | null };

export function stateOf(row: Row, nowSeconds = Date.now() / 1000): Handoff {
  const exp = row.payload.exp ?? 0;
  const base = { key: row.key_hash, exp };
  if (row.payload.error) return { ...base, state: 'denied' };
  if (row.payload.accountId) return { ...base, state: 'approved', accountId: row.payload.accountId };
  if (exp <= nowSeconds) return { ...base, state: 'expired' };
  return { ...base, state: row.scanned_at ? 'scanned' : 'pending' };
}

export const isFinal = (s: HandoffState) => s === 'approved' || s === 'denied' || s === 'expired';

export async function readHandoff(db: Db, where: { key_hash: string } | { status_hash: string }): Promise<Handoff | undefined> {
  const row = await db('oidc_store')
    .first<Row | undefined>('key_hash', 'payload', 'scanned_at')
    .where({ model: 'DeviceCode', ...where });
  return row ? stateOf(row) : undefined;
}

/** pending → scanned, once. True when this call made the transition (and so should publish it). */
export async function markScanned(db: Db, key: string): Promise<boolean> {
  const rows = await db('oidc_store')
    .update({ scanned_at: db.fn.now() })
    .where({ model: 'DeviceCode', key_hash: key })
    .whereNull('scanned_at')
    .whereRaw(`payload->>'accountId' IS NULL AND payload->>'error' IS NULL`)
    .returning('key_hash');
  return rows.length > 0;
}

/** The masked display name of an account (its name, else its username), for waiting screens. */
export async function maskedAccountName(db: Db, accountId: string): Promise<string | undefined> {
  const user = await findUserById(db, accountId);
  const name = user?.name ?? user?.username;
  return name ? maskName(name) : undefined;
}

/** "A***e": enough for the person who approved to recognise themselves, not enough to identify them. */
export function maskName(name: string): string {
  const chars = [...name.trim()];
  if (chars.length === 0) return '';
  if (chars.length <= 2) return `${chars[0]}*`;
  return `${chars[0]}***${chars[chars.length - 1]}`;
}
