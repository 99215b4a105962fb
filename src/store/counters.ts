import type { Db } from './db.js';
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
 * Most hits find their row: a plain UPDATE (HOT, no index touched) does the work, and only the first hit of a key
 * inserts. Two first hits racing both miss the UPDATE; the second INSERT then conflicts and counts itself on the
 * row the first created, so the count is exact either way.
 */
const SET = `count = CASE WHEN r.window_start <= now() - make_interval(secs => $3::int) THEN 1
                   WHEN r.count < $4::int THEN r.count + 1 ELSE r.count END,
      refused = r.window_start > now() - make_interval(secs => $3::int) AND r.count >= $4::int,
      window_start = CASE WHEN r.window_start <= now() - make_interval(secs => $3::int) THEN now() ELSE r.window_start END,
      window_seconds = $3::int`;
const RETURNING = `refused, GREATEST(1, CEIL(EXTRACT(EPOCH FROM (window_start + make_interval(secs => $3::int) - now()))))::int AS retry_after`;
const HIT = {
  name: 'counter_hit',
  text: `WITH u AS (
      UPDATE rate_counters AS r SET ${SET} WHERE r.bucket = $1 AND r.key = $2 RETURNING ${RETURNING}
    ), i AS (
      INSERT INTO rate_counters AS r (bucket, key, count, window_start, refused, window_seconds)
      SELECT $1, $2, 1, now(), false, $3::int WHERE NOT EXISTS (SELECT 1 FROM u)
      ON CONFLICT (bucket, key) DO UPDATE SET ${SET}
      RETURNING ${RETURNING}
    )
    SELECT refused, retry_after FROM u UNION ALL SELECT refused, retry_after FROM i`,
};

export function counters(db: Db, run: Run) {
  return {
    /** Counts one attempt unless the window is full; reports whether it was refused. */
    async hit(c: Counter): Promise<Hit> {
      const row = (await run<{ refused: boolean; retry_after: number }>(HIT, [c.bucket, c.key, c.windowSeconds, c.max]))[0];
      return { refused: row?.refused ?? false, retryAfter: row?.retry_after ?? c.windowSeconds };
    },
    /** Gives back one counted attempt per counter (never below zero), in one statement. */
    async release(list: Array<Pick<Counter, 'bucket' | 'key'>>): Promise<void> {
      if (list.length === 0) return;
      const q = db('rate_counters').update({ count: db.raw('GREATEST(count - 1, 0)') });
      q.where((b) => {
        for (const c of list) b.orWhere({ bucket: c.bucket, key: c.key });
      });
      await q;
    },
  };
}

export type Counters = ReturnType<typeof counters>;
