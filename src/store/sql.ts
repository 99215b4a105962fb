import type { Db } from './db.js';

/**
 * Statements on the hot paths (a poll, a device authorization, a counter) skip knex's query builder: each is a
 * fixed text with `$n` parameters, sent on a connection from knex's own pool (so PGlite's single connection is never
 * shared with a transaction in progress). On PostgreSQL each has a name, so it is parsed and planned once per
 * connection and then only executed.
 *
 * This is the one place that reaches into knex's client: `acquireConnection`/`releaseConnection` are knex's pool,
 * and the connection is a `pg.Client` (PostgreSQL) or the `PGlite` instance (knex-pglite).
 */
export interface Statement {
  /** A name unique per text (PostgreSQL caches the prepared statement under it). */
  name: string;
  text: string;
}

interface PooledClient {
  acquireConnection(): Promise<Connection>;
  releaseConnection(connection: Connection): Promise<unknown>;
}
type Connection = {
  query(config: { name: string; text: string; values: unknown[] } | string, values?: unknown[]): Promise<{ rows: unknown[] }>;
};

export type Run = <R>(statement: Statement, values: unknown[]) => Promise<R[]>;

/** The runner of fixed statements for this database. */
export function statements(db: Db, engine: 'postgres' | 'pglite'): Run {
  // knex's typings describe its pool methods as returning `any`; they are the pool of this very knex instance.
  const pool = db.client as unknown as PooledClient;
  return async <R>(s: Statement, values: unknown[]): Promise<R[]> => {
    const connection = await pool.acquireConnection();
    try {
      const result =
        engine === 'postgres' ? await connection.query({ name: s.name, text: s.text, values }) : await connection.query(s.text, values);
      return result.rows as R[];
    } finally {
      await pool.releaseConnection(connection);
    }
  };
}
