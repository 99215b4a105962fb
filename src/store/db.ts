import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
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

export async function openDb(target: DbTarget): Promise<Db> {
  if (target.databaseUrl) {
    const db = knexFactory({
      client: 'pg',
      connection: target.databaseUrl,
      pool: { min: 0, max: 10 },
    });
    urls.set(db, target.databaseUrl);
    return db;
  }
  let dir: string | undefined;
  let unlock: (() => void) | undefined;
  if (target.dataDir !== null) {
    dir = resolve(target.dataDir, 'pglite');
    mkdirSync(dir, { recursive: true });
    // One process per embedded data directory (see data-dir-lock.ts); refused before PGlite opens its files.
    unlock = await lockDataDir(resolve(target.dataDir));
    try {
      if (!existsSync(join(dir, 'PG_VERSION'))) initDataDir(dir);
    } catch (err) {
      unlock();
      throw err;
    }
  }
  const pglite = new PGlite(dir, { startParams: PGLITE_START_PARAMS });
  const db = knexFactory({ client: ClientPgLite, dialect: 'postgres', connection: { pglite } } as Knex.Config);
  if (unlock) locks.set(db, unlock);
  return db;
}

const locks = new WeakMap<Db, () => void>();

const INIT_SCRIPT = fileURLToPath(new URL('./pglite-init.js', import.meta.url));

/** A new data directory is created by a short-lived child process (pglite-init.ts says why); start-up waits for it. */
function initDataDir(dir: string): void {
  const r = spawnSync(process.execPath, [INIT_SCRIPT, dir, JSON.stringify(PGLITE_START_PARAMS)], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0)
    throw new Error(`could not create the embedded database in ${dir}: ${r.stderr?.toString().trim() || r.error?.message}`);
}

/**
 * PGlite's own start parameters, with a smaller buffer cache: its default 128 MB of shared buffers is touched as it
 * fills and makes most of an embedded instance's resident memory. One process reads its files through the operating
 * system's page cache anyway, and 16 MB measured no slower on Handoff's statements (bench/README.md, "PGlite memory").
 */
const PGLITE_START_PARAMS = [
  '--single',
  '-F',
  '-O',
  '-j',
  ...['search_path=public', 'exit_on_error=false', 'log_checkpoints=false', 'max_worker_processes=0', 'max_parallel_workers=0']
    .concat(['max_parallel_workers_per_gather=0', 'io_method=sync', 'max_parallel_maintenance_workers=0', 'shared_buffers=16MB'])
    .flatMap((setting) => ['-c', setting]),
];

/** Closes a database opened by {@link openDb} and gives up its data directory. */
export async function closeDb(db: Db): Promise<void> {
  try {
    await db.destroy();
  } finally {
    locks.get(db)?.();
    locks.delete(db);
  }
}
