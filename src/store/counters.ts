import type { Db } from '../storage/db.js';

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

const HIT_SQL = `INSERT INTO rate_counters AS r (bucket, key, count, window_start, refused, window_seconds)
  VALUES (?, ?, 1, now(), false, ?::int)
  ON CONFLICT (bucket, key) DO UPDATE SET
    count = CASE WHEN r.window_start <= now() - make_interval(secs => ?::int) THEN 1
                 WHEN r.count < ?::int THEN r.count + 1 ELSE r.count END,
    refused = r.window_start > now() - make_interval(secs => ?::int) AND r.count >= ?::int,
    window_start = CASE WHEN r.window_start <= now() - make_interval(secs => ?::int) THEN now() ELSE r.window_start END,
    window_seconds = ?::int
  RETURNING refused, GREATEST(1, CEIL(EXTRACT(EPOCH FROM (window_start + make_interval(secs => ?::int) - now()))))::int AS retry_after`;

/** Counts one attempt unless the window is full; reports whether it was refused. */
export async function hit(db: Db, c: Counter): Promise<Hit> {
  const s = c.windowSeconds;
  const result = await db.raw<{ rows: { refused: boolean; retry_after: number }[] }>(HIT_SQL, [
    c.bucket,
    c.key,
    s,
    s,
    c.max,
    s,
    c.max,
    s,
    s,
    s,
  ]);
  const row = result.rows[0];
  return { refused: row?.refused ?? false, retryAfter: row?.retry_after ?? s };
}

/** Gives back one counted attempt per counter (never below zero), in one statement. */
export async function release(db: Db, counters: Array<Pick<Counter, 'bucket' | 'key'>>): Promise<void> {
  if (counters.length === 0) return;
  const q = db('rate_counters').update({ count: db.raw('GREATEST(count - 1, 0)') });
  q.where((b) => {
    for (const c of counters) b.orWhere({ bucket: c.bucket, key: c.key });
  });
  await q;
}

/** Drops counters whose window has ended. */
export async function purgeCounters(db: Db): Promise<void> {
  await db.raw(`DELETE FROM rate_counters WHERE window_start < now() - make_interval(secs => COALESCE(window_seconds, 86400))`);
}
