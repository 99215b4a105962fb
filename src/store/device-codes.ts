import type { AdapterPayload } from 'oidc-provider';
import {
  type ChainRow,
  type Counter,
  type Counters,
  chainColumns,
  chainCtes,
  chainParams,
  chainRefusal,
  inLockOrder,
  limitPlaceholders,
  retryAfterSql,
  type Refusal,
} from './counters.js';
import type { Db } from './db.js';
import type { OidcRow } from './oidc.js';
import { perCount, type Run, type Statement } from './sql.js';
import { PUBLIC_COLUMNS, type User } from './user-columns.js';

/**
 * The device-flow columns of a device code's row (`oidc_store`, model `DeviceCode`): when a phone first opened it
 * (`scanned_at`) and when its tokens were answered (`answered_at`); and its poll pacing (`device_pacing`).
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
  /** A decided code's whole row (payload and consumption), for oidc-provider's lookup of it; null while pending. */
  payload: AdapterPayload | null;
  consumed_at: Date | string | null;
  /**
   * An approved code not yet redeemed: its grant's row and its account, which the library loads next in the same
   * request (handed to it, oidc/handed-rows.ts); absent otherwise, or when either is gone.
   */
  grant?: OidcRow;
  account?: User;
}

/**
 * A decided code as a poll read it, for oidc-provider's own lookups later in the same request (oidc/handed-rows.ts):
 * the code, and for an approved code not yet redeemed its grant and account.
 */
export interface DecidedRows {
  code: OidcRow;
  grant?: OidcRow | undefined;
  account?: User | undefined;
}

export interface HandoffRow {
  key_hash: string;
  exp: number | null;
  account_id: string | null;
  denied: boolean;
  scanned: boolean;
  /** Number matching: the number the device shows once the code was opened on a phone. */
  match_number: number | null;
}

/**
 * One poll (RFC 8628 3.5), one statement: reads the code *and* decides `slow_down`. A poll is accepted when it is
 * the first, when at least `interval` seconds (less half a second of network jitter) passed since the last accepted
 * one, or when the code is already decided. An accepted poll moves `last_polled_at`; a refused one leaves it and
 * adds 5 seconds to this code's interval. Pacing lives in its own unlogged table (`device_pacing`, see its migration):
 * a pending poll writes no WAL; a decided code is not paced at all. It returns the few facts the decision needs, and
 * only for a decided code its payload and, approved and not yet redeemed, its grant and account (which oidc-provider
 * goes on to load: the poll's read is handed to it, oidc/handed-rows.ts).
 */
const PACED = `(p.last_polled_at IS NULL OR p.last_polled_at <= now() - make_interval(secs => COALESCE(p.poll_interval, $2::int) - 0.5))`;
const POLL = {
  name: 'device_poll',
  text: `WITH code AS (
      SELECT payload, consumed_at, answered_at,
        payload ? 'accountId' OR payload ? 'error' OR consumed_at IS NOT NULL AS settled
      FROM oidc_store WHERE model = 'DeviceCode' AND key_hash = $1),
    pace AS (
      INSERT INTO device_pacing AS p (key_hash, last_polled_at, expires_at)
      SELECT $1, now(), COALESCE(to_timestamp((payload->>'exp')::bigint), now() + interval '1 day') FROM code WHERE NOT settled
      ON CONFLICT (key_hash) DO UPDATE SET
        last_polled_at = CASE WHEN ${PACED} THEN now() ELSE p.last_polled_at END,
        poll_interval = CASE WHEN ${PACED} THEN p.poll_interval ELSE COALESCE(p.poll_interval, $2::int) + 5 END
      RETURNING p.last_polled_at = now() AS accepted)
    SELECT d.payload->>'clientId' AS client_id, (d.payload->>'exp')::bigint AS exp,
      d.payload ? 'accountId' AS approved, d.payload ? 'error' AS denied, d.consumed_at IS NOT NULL AS consumed,
      COALESCE((SELECT accepted FROM pace), true) AS accepted,
      CASE WHEN d.answered_at IS NULL THEN false ELSE d.answered_at < now() - make_interval(secs => COALESCE(
        (SELECT i.poll_interval FROM device_pacing i WHERE i.key_hash = $1), $2::int)) END AS replay,
      CASE WHEN d.payload ? 'accountId' OR d.payload ? 'error' THEN d.payload END AS payload, d.consumed_at,
      CASE WHEN d.payload ? 'accountId' AND d.consumed_at IS NULL THEN jsonb_build_object(
        'grant', (SELECT jsonb_build_object('payload', g.payload, 'consumed_at', g.consumed_at, 'key_hash', g.key_hash)
          FROM oidc_store g
          WHERE g.model = 'Grant' AND g.key_hash = encode(sha256(convert_to(d.payload->>'grantId', 'UTF8')), 'hex')),
        'account', (SELECT jsonb_build_object(${PUBLIC_COLUMNS.map((c) => `'${c}', u.${c}`).join(', ')})
          FROM users u WHERE u.id = d.payload->>'accountId')) END AS issued_from
    FROM code d`,
};
const RESET = {
  name: 'device_poll_reset',
  text: `UPDATE device_pacing SET last_polled_at = NULL WHERE key_hash = $1`,
};
/**
 * The winner's tokens were answered: from now on (after one poll interval) a presentation is a replay. Marked after
 * the tokens are issued, never at the consume: an issuance slower than the interval must not let a second presentation
 * revoke what the winner is being given (test/device/one-reading.test.ts).
 */
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
/** The same, announced by the statement itself on `$2` (events/bus.ts `channel`) when it made the transition. */
const SCANNED_ANNOUNCED = {
  name: 'device_scanned_announced',
  text: `UPDATE oidc_store SET scanned_at = now()
    WHERE model = 'DeviceCode' AND key_hash = $1 AND scanned_at IS NULL AND NOT payload ? 'accountId' AND NOT payload ? 'error'
    RETURNING 1 AS ok, pg_notify($2, key_hash) AS announced`,
};
/**
 * Number matching (http/number-match.ts): the scan of a code whose client matches numbers also gives the code its
 * number and choices, once, in the same statement, and answers the choices to every phone that opens it (a code is
 * opened by one phone, but a reload must show the same three). Whether this call made the code `scanned` too.
 */
const SCANNED_MATCHING = {
  name: 'device_scanned_matching',
  text: `UPDATE oidc_store SET scanned_at = COALESCE(scanned_at, now()),
      match_number = COALESCE(match_number, $2::smallint), match_choices = COALESCE(match_choices, $3::smallint[])
    WHERE model = 'DeviceCode' AND key_hash = $1 AND NOT payload ? 'accountId' AND NOT payload ? 'error'
    RETURNING scanned_at = now() AS first, match_choices`,
};
/** The right number was picked on the phone: recorded, so the approval's grant can check it (device/verification.ts). */
const MATCHED = {
  name: 'device_matched',
  text: `UPDATE oidc_store SET matched_at = now()
    WHERE model = 'DeviceCode' AND key_hash = $1 AND match_number = $2::smallint AND NOT payload ? 'accountId' AND NOT payload ? 'error'
    RETURNING 1 AS ok`,
};
const WAS_MATCHED = {
  name: 'device_was_matched',
  text: `SELECT matched_at IS NOT NULL AS matched FROM oidc_store WHERE model = 'DeviceCode' AND key_hash = $1`,
};
const HANDOFF = {
  name: 'device_handoff',
  text: `SELECT key_hash, (payload->>'exp')::bigint AS exp, payload->>'accountId' AS account_id, payload ? 'error' AS denied,
      scanned_at IS NOT NULL AS scanned, match_number
    FROM oidc_store WHERE model = 'DeviceCode' AND key_hash = $1`,
};
const QR = {
  name: 'device_qr_remaining',
  text: `SELECT (payload->>'exp')::bigint - extract(epoch from now())::bigint AS remaining FROM oidc_store
    WHERE model = 'DeviceCode' AND user_code_hash = $1 AND NOT payload ? 'accountId' AND NOT payload ? 'error'`,
};

/**
 * A user code a phone typed or opened (RFC 8628 5.1, guessing), one statement: the code is looked up by its hash
 * and, only when no code has it, the attempt is counted against the guess limits in order (a chain of hits,
 * store/counters.ts). A code that exists spends nothing, but is refused while any of the limits is full, so a
 * correct code never resets earlier failures and no code is found past the limit. (Counting every attempt first
 * and giving it back when the code exists, as this did before, leaves the same counts: it took four statements.)
 */
function guessText(n: number, scan: '' | 'scan' | 'announce'): Statement {
  const limits = Array.from({ length: n }, (_, i) => {
    const [b, k, w, m] = limitPlaceholders(2, i);
    return `(${i}, ${b}::text, ${k}::text, ${w}::int, ${m}::int)`;
  });
  // The scan (see {@link GuessOptions}): after the limits' parameters, `$<2 + 4n>` is the channel it announces on.
  const channel = `$${2 + 4 * n}`;
  const scanCte = scan
    ? `,
      scan AS (
        UPDATE oidc_store s SET scanned_at = now()
        FROM found f
        WHERE s.model = 'DeviceCode' AND s.key_hash = f.key_hash AND s.scanned_at IS NULL
          AND NOT s.payload ? 'accountId' AND NOT s.payload ? 'error' AND NOT s.payload ? 'inFlight'
          AND (s.payload->>'exp')::bigint > extract(epoch from now())
          AND NOT EXISTS (SELECT 1 FROM full_limit)
          AND EXISTS (SELECT 1 FROM clients c WHERE c.client_id = s.payload->>'clientId'
            AND c.metadata->'handoff_number_matching' IS DISTINCT FROM 'true'::jsonb)
        RETURNING 1 AS ok${scan === 'announce' ? `, pg_notify(${channel}::text, s.key_hash) AS announced` : ''})`
    : '';
  return {
    name: `device_guess_${n}${scan ? `_${scan}` : ''}`,
    text: `WITH found AS (
        SELECT payload, consumed_at, key_hash, scanned_at IS NOT NULL AS scanned
        FROM oidc_store WHERE model = 'DeviceCode' AND user_code_hash = $1 LIMIT 1),
      full_limit AS (
        SELECT l.i, CASE WHEN r.window_start IS NULL THEN l.w ELSE ${retryAfterSql('r.window_start', 'l.w')} END AS retry_after
        FROM (VALUES ${limits.join(', ')}) AS l(i, b, k, w, m)
        LEFT JOIN rate_counters r ON r.bucket = l.b AND r.key = l.k AND r.window_start > now() - make_interval(secs => l.w)
        WHERE EXISTS (SELECT 1 FROM found) AND l.m <= COALESCE(r.count, 0)
        ORDER BY l.i LIMIT 1),
      ${chainCtes(n, 2, 'NOT EXISTS (SELECT 1 FROM found)')}${scanCte}
    SELECT (SELECT payload FROM found) AS payload, (SELECT consumed_at FROM found) AS consumed_at,
      (SELECT key_hash FROM found) AS key_hash, (SELECT scanned FROM found) AS scanned, (SELECT i FROM full_limit) AS full_at,
      (SELECT retry_after FROM full_limit) AS full_retry, ${chainColumns(n)}${scan ? ', EXISTS (SELECT 1 FROM scan) AS scanned_now' : ''}`,
  };
}
const guessStatements = {
  '': perCount((n) => guessText(n, '')),
  scan: perCount((n) => guessText(n, 'scan')),
  announce: perCount((n) => guessText(n, 'announce')),
};

/**
 * A guess that opens the code on a phone (the verification link) may also mark it scanned in the same statement: a
 * found, live, undecided code that no limit refuses, of a client that does not match numbers (number matching makes
 * its numbers in its own statement, flow.ts `scanMatching`). With `channel`, the transition is announced on it.
 */
export interface GuessOptions {
  scan?: { channel?: string | undefined };
}

/**
 * What a guess found: the code's row when one has the user code, or the limit that refused the attempt; whether the
 * code was scanned before, and whether this guess marked it scanned ({@link GuessOptions}).
 */
export interface Guess {
  row?: OidcRow;
  refused?: Refusal;
  scanned?: { before: boolean; now: boolean };
}

export function deviceCodes(_db: Db, run: Run, counters: Pick<Counters, 'release'>) {
  return {
    /** See {@link guessText}; `limits` in the order they are checked, which must be the lock order (at least one). */
    async guess(userCodeHash: string, limits: Counter[], opts: GuessOptions = {}): Promise<Guess> {
      if (!inLockOrder(limits)) throw new Error('guess limits must be listed in lock order (store/counters.ts)');
      const channel = opts.scan?.channel;
      const statement = guessStatements[opts.scan ? (channel ? 'announce' : 'scan') : ''](limits.length);
      const answer = (
        await run<
          Partial<OidcRow> & {
            full_at: number | null;
            full_retry: number | null;
            scanned: boolean | null;
            scanned_now?: boolean;
          } & ChainRow
        >(statement, [userCodeHash, ...chainParams(limits), ...(channel ? [channel] : [])])
      )[0];
      if (answer?.key_hash && answer.payload) {
        const row = { payload: answer.payload, consumed_at: answer.consumed_at ?? null, key_hash: answer.key_hash };
        const scanned = { before: answer.scanned === true, now: answer.scanned_now === true };
        if (answer.full_at === null || answer.full_at === undefined) return { row, scanned };
        return { row, scanned, refused: { index: answer.full_at, retryAfter: answer.full_retry ?? 1 } };
      }
      const refused = chainRefusal(answer as ChainRow | undefined, limits);
      if (refused) await counters.release(limits.slice(0, refused.index));
      return refused ? { refused } : {};
    },
    async poll(key: string, interval: number): Promise<PollRow | undefined> {
      type Read = Omit<PollRow, 'grant' | 'account'> & {
        exp: string | number | null;
        issued_from: { grant: OidcRow | null; account: User | null } | null;
      };
      const read = (await run<Read>(POLL, [key, interval]))[0];
      if (!read) return undefined;
      const { issued_from, ...row } = read;
      return {
        ...row,
        exp: row.exp === null ? null : Number(row.exp),
        ...(issued_from?.grant ? { grant: issued_from.grant } : {}),
        ...(issued_from?.account ? { account: issued_from.account } : {}),
      };
    },
    /** The next poll after a held answer is never told `slow_down`. */
    async resetPoll(key: string): Promise<void> {
      await run(RESET, [key]);
    },
    /** See {@link ANSWERED}. */
    async markAnswered(key: string): Promise<void> {
      await run(ANSWERED, [key]);
    },
    /**
     * pending → scanned, once: true when this call made the transition. With `channel`, the transition is announced
     * on it by the same statement (events/bus.ts).
     */
    async markScanned(key: string, channel?: string): Promise<boolean> {
      return (await (channel ? run(SCANNED_ANNOUNCED, [key, channel]) : run(SCANNED, [key]))).length > 0;
    },
    /**
     * pending → scanned with number matching: the code gets `numbers` unless it has its own already. Whether this
     * call made the transition, and the choices the phone offers (undefined for a decided code).
     */
    async markScannedMatching(
      key: string,
      numbers: { number: number; choices: number[] },
    ): Promise<{ first: boolean; choices?: number[] }> {
      const row = (
        await run<{ first: boolean; match_choices: number[] | null }>(SCANNED_MATCHING, [key, numbers.number, numbers.choices])
      )[0];
      return row ? { first: row.first, ...(row.match_choices ? { choices: row.match_choices.map(Number) } : {}) } : { first: false };
    },
    /** Records a right pick; false when `picked` is not the code's number (or the code is decided). */
    async matched(key: string, picked: number): Promise<boolean> {
      return (await run(MATCHED, [key, picked])).length > 0;
    },
    /** Whether the right number was picked for this code. */
    async wasMatched(key: string): Promise<boolean> {
      return (await run<{ matched: boolean }>(WAS_MATCHED, [key]))[0]?.matched === true;
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
