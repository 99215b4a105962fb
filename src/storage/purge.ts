import { purgeCounters } from '../store/counters.js';
import type { Db } from './db.js';

/**
 * Deletes expired rows in batches so a large backlog never holds long locks. Expired grants and codes are kept for
 * `graceSeconds` after expiry so a late poll still gets `expired_token` instead of `invalid_grant`.
 */
export async function purgeExpired(db: Db, { batchSize, graceSeconds }: { batchSize: number; graceSeconds: number }): Promise<number> {
  let total = 0;
  for (;;) {
    const result = await db.raw<{ rowCount?: number; affectedRows?: number; rows: unknown[] }>(
      `DELETE FROM oidc_store WHERE ctid IN (
         SELECT ctid FROM oidc_store WHERE expires_at < now() - make_interval(secs => ?::int) LIMIT ?)
       RETURNING 1`,
      [graceSeconds, batchSize],
    );
    const n = result.rows.length;
    total += n;
    if (n < batchSize) break;
  }
  await purgeCounters(db);
  await db.raw(`DELETE FROM qr_tickets WHERE expires_at < now() - interval '1 hour'`);
  await db.raw(`DELETE FROM cookie_keys WHERE retire_after <= now()`);
  return total;
}

/** Runs {@link purgeExpired} every `intervalSeconds`; errors are reported, never thrown into the event loop. */
export function startPurger(
  db: Db,
  opts: { batchSize: number; graceSeconds: number; intervalSeconds: number },
  onRun: (deleted: number, err?: unknown) => void,
): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    purgeExpired(db, opts)
      .then((n) => onRun(n))
      .catch((err: unknown) => onRun(0, err))
      .finally(() => {
        running = false;
      });
  }, opts.intervalSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
