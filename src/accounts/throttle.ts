import type { Db } from '../storage/db.js';

/**
 * Fixed-window counters in the database, shared by every instance. One statement both counts and reads, so
 * concurrent attempts cannot slip past the limit between a read and a write.
 */
export interface Window {
  bucket: string;
  key: string;
  windowSeconds: number;
}

/** Adds one to the counter (starting a new window when the old one ended) and returns the new count. */
export async function hit(db: Db, w: Window): Promise<{ count: number; retryAfter: number }> {
  const result = await db.raw<{ rows: { count: number; retry_after: number }[] }>(
    `INSERT INTO rate_counters (bucket, key, count, window_start) VALUES (?, ?, 1, now())
     ON CONFLICT (bucket, key) DO UPDATE SET
       count = CASE WHEN rate_counters.window_start <= now() - make_interval(secs => ?::int) THEN 1 ELSE rate_counters.count + 1 END,
       window_start = CASE WHEN rate_counters.window_start <= now() - make_interval(secs => ?::int) THEN now() ELSE rate_counters.window_start END
     RETURNING count, CEIL(EXTRACT(EPOCH FROM (window_start + make_interval(secs => ?::int) - now())))::int AS retry_after`,
    [w.bucket, w.key, w.windowSeconds, w.windowSeconds, w.windowSeconds],
  );
  const row = result.rows[0];
  return { count: row?.count ?? 1, retryAfter: row?.retry_after ?? w.windowSeconds };
}

/** The current count in a live window (0 when none), without adding to it. */
export async function peek(db: Db, w: Window): Promise<{ count: number; retryAfter: number }> {
  const result = await db.raw<{ rows: { count: number; retry_after: number }[] }>(
    `SELECT count, CEIL(EXTRACT(EPOCH FROM (window_start + make_interval(secs => ?::int) - now())))::int AS retry_after
       FROM rate_counters WHERE bucket = ? AND key = ? AND window_start > now() - make_interval(secs => ?::int)`,
    [w.windowSeconds, w.bucket, w.key, w.windowSeconds],
  );
  const row = result.rows[0];
  return { count: row?.count ?? 0, retryAfter: row?.retry_after ?? 0 };
}

/** Gives back one reserved attempt (never below zero): used when a reserved attempt turned out to be legitimate. */
export async function release(db: Db, w: Window): Promise<void> {
  await db('rate_counters')
    .where({ bucket: w.bucket, key: w.key })
    .update({ count: db.raw('GREATEST(count - 1, 0)') });
}
