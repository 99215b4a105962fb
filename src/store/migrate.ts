import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import type { Db } from './db.js';

interface Migration {
  up(db: Knex): Promise<void>;
  down(db: Knex): Promise<void>;
}

const dir = new URL('../../migrations/', import.meta.url);

/** Reads the compiled migrations (`dist/migrations/*.js`) in name order; names start with a timestamp. */
class DirectorySource implements Knex.MigrationSource<string> {
  async getMigrations(): Promise<string[]> {
    return readdirSync(fileURLToPath(dir))
      .filter((f) => f.endsWith('.js'))
      .sort();
  }
  getMigrationName(name: string): string {
    return name.replace(/\.js$/, '');
  }
  async getMigration(name: string): Promise<Knex.Migration> {
    const mod = (await import(new URL(name, dir).href)) as Migration;
    return { up: mod.up, down: mod.down };
  }
}

const options = (): Knex.MigratorConfig => ({
  migrationSource: new DirectorySource(),
  tableName: 'knex_migrations',
});

/** Applies every pending migration; returns the names applied. */
export async function migrateLatest(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest(options())) as [number, string[]];
  return applied;
}

/** Reverts the last batch (used by the migration tests). */
export async function migrateRollback(db: Db, all = false): Promise<void> {
  await db.migrate.rollback(options(), all);
}

/** Names of migrations not yet applied. */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const [, pending] = (await db.migrate.list(options())) as [unknown, Array<{ file: string } | string>];
  return pending.map((p) => (typeof p === 'string' ? p : p.file));
}
