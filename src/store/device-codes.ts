import type { Db } from './db.js';
import type { Run } from './sql.js';

/**
 * The device-flow columns of a device code's row (`oidc_store`, model `DeviceCode`): pacing (`last_polled_at`,
 * `poll_interval`), when a phone first opened it (`scanned_at`) and when its tokens were answered (`answered_at`).
 * The rules these statements apply are drawn in device/flow.ts.
 */
export interface PollRow {
  client_id: string | null;
  exp: number | null;
  approved: boolean;
  denied: boolean;
  consumed: boolean;
  accepted: boolean;
  replay: boolean;
}

export interface HandoffRow {
  key_hash: string;
  exp: number | null;
  account_id: string | null;
  denied: boolean;
  scanned: boolean;
}

/**
 * One poll (RFC 8628 3.5), one statement: reads the code *and* decides `slow_down`. A poll is accepted when it is
 * the first, when at least `interval` seconds (less half a second of network jitter) passed since the last accepted
 * one, or when the code is already decided. An accepted poll moves `last_polled_at`; a refused one leaves it and
 * adds 5 seconds to this code's interval. It returns only the few facts the decision needs, not the payload.
 */
const OK = `(payload ? 'accountId' OR payload ? 'error' OR consumed_at IS NOT NULL
  OR last_polled_at IS NULL OR last_polled_at <= now() - make_interval(secs => COALESCE(poll_interval, $2::int) - 0.5))`;
const POLL = {
  name: 'device_poll',
  text: `UPDATE oidc_store SET
      last_polled_at = CASE WHEN ${OK} THEN now() ELSE last_polled_at END,
      poll_interval = CASE WHEN ${OK} THEN poll_interval ELSE COALESCE(poll_interval, $2::int) + 5 END
    WHERE model = 'DeviceCode' AND key_hash = $1
    RETURNING payload->>'clientId' AS client_id, (payload->>'exp')::bigint AS exp,
      payload ? 'accountId' AS approved, payload ? 'error' AS denied, consumed_at IS NOT NULL AS consumed,
      last_polled_at = now() AS accepted,
      (answered_at IS NOT NULL AND answered_at < now() - make_interval(secs => COALESCE(poll_interval, $2::int))) AS replay`,
};
const RESET = {
  name: 'device_poll_reset',
  text: `UPDATE oidc_store SET last_polled_at = NULL WHERE model = 'DeviceCode' AND key_hash = $1`,
};
const ANSWERED = {
  name: 'device_answered',
  text: `UPDATE oidc_store SET answered_at = clock_timestamp() WHERE model = 'DeviceCode' AND key_hash = $1`,
};
const SCANNED = {
  name: 'device_scanned',
  text: `UPDATE oidc_store SET scanned_at = now()
    WHERE model = 'DeviceCode' AND key_hash = $1 AND scanned_at IS NULL AND NOT payload ? 'accountId' AND NOT payload ? 'error'
    RETURNING 1 AS ok`,
};
const HANDOFF = {
  name: 'device_handoff',
  text: `SELECT key_hash, (payload->>'exp')::bigint AS exp, payload->>'accountId' AS account_id, payload ? 'error' AS denied,
      scanned_at IS NOT NULL AS scanned
    FROM oidc_store WHERE model = 'DeviceCode' AND key_hash = $1`,
};
const QR = {
  name: 'device_qr_remaining',
  text: `SELECT (payload->>'exp')::bigint - extract(epoch from now())::bigint AS remaining FROM oidc_store
    WHERE model = 'DeviceCode' AND user_code_hash = $1 AND NOT payload ? 'accountId' AND NOT payload ? 'error'`,
};

export function deviceCodes(_db: Db, run: Run) {
  return {
    async poll(key: string, interval: number): Promise<PollRow | undefined> {
      const row = (await run<PollRow & { exp: string | number | null }>(POLL, [key, interval]))[0];
      return row && { ...row, exp: row.exp === null ? null : Number(row.exp) };
    },
    /** The next poll after a held answer is never told `slow_down`. */
    async resetPoll(key: string): Promise<void> {
      await run(RESET, [key]);
    },
    async markAnswered(key: string): Promise<void> {
      await run(ANSWERED, [key]);
    },
    /** pending → scanned, once: true when this call made the transition. */
    async markScanned(key: string): Promise<boolean> {
      return (await run(SCANNED, [key])).length > 0;
    },
    async handoff(key: string): Promise<HandoffRow | undefined> {
      const row = (await run<HandoffRow & { exp: string | number | null }>(HANDOFF, [key]))[0];
      return row && { ...row, exp: row.exp === null ? null : Number(row.exp) };
    },
    /** Seconds left of a live, undecided code found by its user code's hash; undefined otherwise. */
    async qrRemaining(userCodeHash: string): Promise<number | undefined> {
      const row = (await run<{ remaining: string | number }>(QR, [userCodeHash]))[0];
      const n = row ? Number(row.remaining) : 0;
      return n > 0 ? n : undefined;
    },
  };
}

export type DeviceCodes = ReturnType<typeof deviceCodes>;
