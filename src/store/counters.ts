import { combine } from './combine.js';
import type { Run } from './sql.js';

/**
 * Fixed-window counters shared by every instance (`rate_counters`). One statement both counts and decides, so
 * concurrent attempts cannot slip past a limit between a read and a write.
 *
 * Counters are *capped*: a hit that finds the window full is refused and does not count, so a caller who keeps
 * hammering a full window does not push its end further away or inflate anything.
 */
export interface Counter {
  bucket: string;
  key: string;
  windowSeconds: number;
  max: number;
}

export interface Hit {
  refused: boolean;
  /** Seconds until the window ends (at least 1). */
  retryAfter: number;
}

/**
 * Hits that arrive together are counted by one statement ({@link combine}): a batch of hits, in arrival order, is
 * grouped by counter, and each counter's row is inserted or updated once. On a row whose window is still open with
 * `count` of `max` used, a group of `n` hits counts `taken = LEAST(n, max - count)`; a window that has ended starts
 * afresh with `LEAST(n, max)`. The first `taken` hits of the group, in arrival order, are allowed, the rest refused.
 * A lone hit is a batch of one, so there is one text for both. The row is locked by the upsert itself, so
 * concurrent statements (other instances included) count on the latest row and the count stays exact; rows are
 * taken in key order, so two batches never wait on each other in a circle.
 */
const EXPIRED = 'r.window_start <= now() - make_interval(secs => excluded.window_seconds)';
const ROOM = '(SELECT g.m FROM g WHERE g.b = excluded.bucket AND g.k = excluded.key) - r.count';
const HITS = {
  name: 'counter_hits',
  text: `WITH h AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS h(i int, b text, k text, w int, m int)),
    g AS (SELECT b, k, min(w) AS w, min(m) AS m, count(*)::int AS n FROM h GROUP BY b, k),
    up AS (
      INSERT INTO rate_counters AS r (bucket, key, count, window_start, taken, window_seconds)
      SELECT b, k, LEAST(n, m), now(), LEAST(n, m), w FROM g ORDER BY b, k
      ON CONFLICT (bucket, key) DO UPDATE SET
        taken = CASE WHEN ${EXPIRED} THEN excluded.taken ELSE LEAST(excluded.taken, GREATEST(0, ${ROOM})) END,
        count = CASE WHEN ${EXPIRED} THEN excluded.taken ELSE r.count + LEAST(excluded.taken, GREATEST(0, ${ROOM})) END,
        window_start = CASE WHEN ${EXPIRED} THEN now() ELSE r.window_start END,
        window_seconds = excluded.window_seconds
      RETURNING bucket, key, taken,
        GREATEST(1, CEIL(EXTRACT(EPOCH FROM (window_start + make_interval(secs => window_seconds) - now()))))::int AS retry_after
    )
    SELECT h.i, row_number() OVER (PARTITION BY h.b, h.k ORDER BY h.i) > up.taken AS refused, up.retry_after
    FROM h JOIN up ON up.bucket = h.b AND up.key = h.k ORDER BY h.i`,
};

const RELEASE = {
  name: 'counter_release',
  text: `UPDATE rate_counters AS r SET count = GREATEST(r.count - 1, 0)
    FROM (SELECT bucket, key FROM rate_counters
          WHERE (bucket, key) IN (SELECT b, k FROM jsonb_to_recordset($1::jsonb) AS l(b text, k text))
          ORDER BY bucket, key FOR UPDATE) AS s
    WHERE r.bucket = s.bucket AND r.key = s.key`,
};

/** At most this many counter statements out at once per instance; hits beyond wait and go out together. */
const IN_FLIGHT = 2;

export function counters(run: Run) {
  const hit = combine<Counter, Hit>(
    async (list) => {
      const json = JSON.stringify(list.map((c, i) => ({ i, b: c.bucket, k: c.key, w: c.windowSeconds, m: c.max })));
      const rows = await run<{ i: number; refused: boolean; retry_after: number }>(HITS, [json]);
      return list.map((c, i) => {
        const row = rows[i];
        if (row?.i !== i) throw new Error('counter statement answered out of order');
        return { refused: row.refused, retryAfter: row.retry_after ?? c.windowSeconds };
      });
    },
    { maxInFlight: IN_FLIGHT, maxBatch: 256 },
  );
  return {
    /** Counts one attempt unless the window is full; reports whether it was refused. */
    hit,
    /**
     * Gives back one counted attempt per counter (never below zero), in one statement. The rows are locked in key
     * order, as the counting statement locks them, so a give-back and a combined hit never wait on each other in
     * a circle (a deadlock).
     */
    async release(list: Array<Pick<Counter, 'bucket' | 'key'>>): Promise<void> {
      if (list.length === 0) return;
      await run(RELEASE, [JSON.stringify(list.map((c) => ({ b: c.bucket, k: c.key })))]);
    },
  };
}

export type Counters = ReturnType<typeof counters>;
