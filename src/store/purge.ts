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
  await db.raw(`DELETE FROM device_pacing WHERE expires_at < now() - make_interval(secs => ?::int)`, [graceSeconds]);
  await db.raw(`DELETE FROM rate_counters WHERE window_start < now() - make_interval(secs => COALESCE(window_seconds, 86400))`);
  await db.raw(`DELETE FROM qr_tickets WHERE expires_at < now() - interval '1 hour'`);
  await db.raw(`DELETE FROM cookie_keys WHERE retire_after <= now()`);
  await db.raw(`DELETE FROM webauthn_challenges WHERE expires_at < now()`);
  await db.raw(`DELETE FROM upstream_logins WHERE expires_at < now()`);
  await db.raw(`DELETE FROM account_tokens WHERE expires_at < now()`);
  await db.raw(`DELETE FROM backchannel_requests WHERE expires_at < now() - interval '1 day'`);
  return total;
}
