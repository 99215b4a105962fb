import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import { lockDataDir } from './data-dir-lock.js';

export type Db = Knex;

export interface DbTarget {
  /** A postgres:// URL selects PostgreSQL; otherwise embedded PGlite. */
  databaseUrl?: string | undefined;
  /** PGlite's data directory; `null` selects an in-memory database (tests). */
  dataDir: string | null;
}

/** Which engine a knex instance talks to, for the few places where PGlite and PostgreSQL differ. */
export function engineOf(db: Db): 'postgres' | 'pglite' {
  return (db.client.config as Knex.Config).client === 'pg' ? 'postgres' : 'pglite';
}

/**
 * Opens the database. PGlite allows one connection, so knex-pglite pins its pool to one; every statement
 * Handoff issues is a single atomic statement, so that serialisation never changes a result.
 */
const urls = new WeakMap<Db, string>();

/** The postgres:// URL a PostgreSQL knex was opened with (the event listener opens its own connection with it). */
export function databaseUrlOf(db: Db): string | undefined {
  return urls.get(db);
}

export function openDb(target: DbTarget): Db {
  if (target.databaseUrl) {
    const db = knexFactory({
      client: 'pg',
      connection: target.databaseUrl,
      pool: { min: 0, max: 10 },
    });
    urls.set(db, target.databaseUrl);
    return db;
  }
  let connection: { filename?: string } = {};
  let unlock: (() => void) | undefined;
  if (target.dataDir !== null) {
    const dir = resolve(target.dataDir, 'pglite');
    mkdirSync(dir, { recursive: true });
    // One process per embedded data directory (see data-dir-lock.ts); refused before PGlite opens its files.
    unlock = lockDataDir(resolve(target.dataDir));
    connection = { filename: dir };
  }
  const db = knexFactory({ client: ClientPgLite, dialect: 'postgres', connection } as Knex.Config);
  if (unlock) locks.set(db, unlock);
  return db;
}

const locks = new WeakMap<Db, () => void>();

/** Closes a database opened by {@link openDb} and gives up its data directory. */
export async function closeDb(db: Db): Promise<void> {
  try {
    await db.destroy();
  } finally {
    locks.get(db)?.();
    locks.delete(db);
  }
}
