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

/**
 * {@link hit} for several windows in one statement (one round trip, one commit). Rows are locked in a fixed order
 * (bucket, key), so concurrent calls cannot deadlock. Returns the results in the order given.
 */
export async function hitMany(db: Db, windows: Window[]): Promise<Array<{ count: number; retryAfter: number }>> {
  const order = windows.map((w, i) => ({ w, i })).sort((a, b) => (a.w.bucket + a.w.key < b.w.bucket + b.w.key ? -1 : 1));
  const values = order.map(() => '(?, ?, 1, now(), ?::int)').join(', ');
  const params = order.flatMap(({ w }) => [w.bucket, w.key, w.windowSeconds]);
  const result = await db.raw<{ rows: { bucket: string; key: string; count: number; retry_after: number }[] }>(
    `WITH input (bucket, key, count, window_start, secs) AS (VALUES ${values})
     INSERT INTO rate_counters AS r (bucket, key, count, window_start)
       SELECT bucket, key, count, window_start FROM input ORDER BY bucket, key
     ON CONFLICT (bucket, key) DO UPDATE SET
       count = CASE WHEN r.window_start <= now() - make_interval(secs => (SELECT secs FROM input i WHERE i.bucket = r.bucket AND i.key = r.key)) THEN 1 ELSE r.count + 1 END,
       window_start = CASE WHEN r.window_start <= now() - make_interval(secs => (SELECT secs FROM input i WHERE i.bucket = r.bucket AND i.key = r.key)) THEN now() ELSE r.window_start END
     RETURNING r.bucket, r.key, r.count,
       CEIL(EXTRACT(EPOCH FROM (r.window_start + make_interval(secs => (SELECT secs FROM input i WHERE i.bucket = r.bucket AND i.key = r.key)) - now())))::int AS retry_after`,
    params,
  );
  return windows.map((w) => {
    const row = result.rows.find((r) => r.bucket === w.bucket && r.key === w.key);
    return { count: row?.count ?? 1, retryAfter: row?.retry_after ?? w.windowSeconds };
  });
}

/** Gives back one reserved attempt per window (never below zero), in one statement: a reserved attempt that turned
 * out to be legitimate. */
export async function releaseMany(db: Db, windows: Window[]): Promise<void> {
  if (windows.length === 0) return;
  const q = db('rate_counters').update({ count: db.raw('GREATEST(count - 1, 0)') });
  q.where((b) => {
    for (const w of windows) b.orWhere({ bucket: w.bucket, key: w.key });
  });
  await q;
}
