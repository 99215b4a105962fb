import type { Adapter, AdapterPayload } from 'oidc-provider';
import pg from 'pg';

/**
 * The second baseline's storage: what a user of oidc-provider would write for PostgreSQL without Handoff. One table,
 * one plain statement per adapter call, ids and user codes in the clear, no limits, no pacing, no push.
 */
export async function plainPgAdapter(connectionString: string): Promise<(name: string) => Adapter> {
  const pool = new pg.Pool({ connectionString, max: 10 });
  await pool.query(`CREATE TABLE IF NOT EXISTS oidc_payloads (
    id text NOT NULL, type text NOT NULL, payload jsonb NOT NULL, grant_id text, user_code text, uid text,
    expires_at timestamptz, consumed_at timestamptz, PRIMARY KEY (id, type))`);
  await pool.query('CREATE INDEX IF NOT EXISTS oidc_payloads_grant ON oidc_payloads (grant_id)');
  await pool.query('CREATE INDEX IF NOT EXISTS oidc_payloads_user_code ON oidc_payloads (user_code)');
  await pool.query('CREATE INDEX IF NOT EXISTS oidc_payloads_uid ON oidc_payloads (uid)');
  const row = (r: { rows: Array<{ payload: AdapterPayload; consumed_at: Date | null }> }) => {
    const found = r.rows[0];
    if (!found) return undefined;
    return { ...found.payload, ...(found.consumed_at ? { consumed: Math.floor(found.consumed_at.getTime() / 1000) } : {}) };
  };
  return (type: string): Adapter => ({
    async upsert(id, payload, expiresIn) {
      await pool.query(
        `INSERT INTO oidc_payloads (id, type, payload, grant_id, user_code, uid, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7::int > 0 THEN now() + make_interval(secs => $7::int) END)
         ON CONFLICT (id, type) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
           user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at`,
        [id, type, payload, payload.grantId ?? null, payload.userCode ?? null, payload.uid ?? null, expiresIn],
      );
    },
    async find(id) {
      return row(await pool.query('SELECT payload, consumed_at FROM oidc_payloads WHERE id = $1 AND type = $2', [id, type]));
    },
    async findByUserCode(userCode) {
      return row(await pool.query('SELECT payload, consumed_at FROM oidc_payloads WHERE user_code = $1 AND type = $2', [userCode, type]));
    },
    async findByUid(uid) {
      return row(await pool.query('SELECT payload, consumed_at FROM oidc_payloads WHERE uid = $1 AND type = $2', [uid, type]));
    },
    async consume(id) {
      await pool.query('UPDATE oidc_payloads SET consumed_at = now() WHERE id = $1 AND type = $2', [id, type]);
    },
    async destroy(id) {
      await pool.query('DELETE FROM oidc_payloads WHERE id = $1 AND type = $2', [id, type]);
    },
    async revokeByGrantId(grantId) {
      await pool.query('DELETE FROM oidc_payloads WHERE grant_id = $1 AND type = $2', [grantId, type]);
    },
  });
}
