import pg from 'pg';
import type { Db } from './db.js';

/**
 * Statements on the hot paths (a poll, a device authorization, a counter) skip knex's query builder and its pool:
 * each is a fixed text with `$n` parameters. On PostgreSQL they run on a small pool of their own and each has a
 * name, so it is parsed and planned once per connection and then only executed. On PGlite they go through knex's
 * single connection (so they never interleave with a transaction in progress).
 *
 * This is the one place that reaches into knex's client: `acquireConnection`/`releaseConnection` are knex's pool,
 * and its connection is the `PGlite` instance (knex-pglite).
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
type Connection = { query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> };

export type Run = <R>(statement: Statement, values: unknown[]) => Promise<R[]>;

/** A statement whose text depends on a count (how many limits a request has), built once per count. */
export function perCount(build: (n: number) => Statement): (n: number) => Statement {
  const built = new Map<number, Statement>();
  return (n) => {
    const known = built.get(n);
    if (known) return known;
    const made = build(n);
    built.set(n, made);
    return made;
  };
}

/** What {@link statements} gives the store: the runner, a count of every statement sent, and how to close. */
export interface Statements {
  run: Run;
  /** Statements sent to the database since start-up, fixed and built by knex alike (`handoff_sql_statements_total`). */
  count(): number;
  close(): Promise<void>;
}

/**
 * knex's statements on one database, counted by one listener however many stores share it (tests start many
 * instances on one database; a listener per store would pile up on the same emitter).
 */
const knexStatements = new WeakMap<Db, { n: number }>();
function knexCounter(db: Db): { n: number } {
  const known = knexStatements.get(db);
  if (known) return known;
  const counter = { n: 0 };
  db.on('query', () => {
    counter.n += 1;
  });
  knexStatements.set(db, counter);
  return counter;
}

/** The runner of fixed statements for this database, and how to close what it opened. */
export function statements(db: Db, postgresUrl: string | undefined): Statements {
  let sent = 0;
  const built = knexCounter(db);
  const builtAtStart = built.n;
  const count = () => sent + built.n - builtAtStart;
  if (postgresUrl) {
    const pool = new pg.Pool({ connectionString: postgresUrl, max: 8, application_name: 'handoff' });
    // An idle connection the server dropped is replaced at the next use; never an unhandled error.
    pool.on('error', () => {});
    return {
      run: async <R>(s: Statement, values: unknown[]) => {
        sent += 1;
        return (await pool.query({ name: s.name, text: s.text, values })).rows as R[];
      },
      count,
      close: async () => {
        await pool.end();
      },
    };
  }
  // knex's typings describe its pool methods as returning `any`; they are the pool of this very knex instance.
  const knexPool = db.client as unknown as PooledClient;
  return {
    run: async <R>(s: Statement, values: unknown[]): Promise<R[]> => {
      sent += 1;
      const connection = await knexPool.acquireConnection();
      try {
        return (await connection.query(s.text, values)).rows as R[];
      } finally {
        await knexPool.releaseConnection(connection);
      }
    },
    count,
    close: async () => {},
  };
}

/**
 * Runs a transaction again (at most three times in all) when PostgreSQL rolled it back to break a deadlock
 * (`40P01`). Writes combined into one statement (combine.ts) lock several rows at once; a transaction that also
 * locks several (a revocation) can then meet one in a circle, and PostgreSQL ends the circle by rolling one back.
 * The rollback undid all of it, so running it again is safe, and it is what the error asks for.
 */
export async function retryDeadlocks<T>(transaction: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await transaction();
    } catch (err) {
      if (attempt >= 3 || (err as { code?: unknown }).code !== '40P01') throw err;
    }
  }
}
