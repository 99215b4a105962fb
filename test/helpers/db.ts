import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import { type Db, engineOf, openDb } from '../../src/store/db.js';
import { migrateLatest } from '../../src/store/migrate.js';

/**
 * One database per test run: a fresh PostgreSQL database when TEST_DATABASE_URL or DATABASE_URL is set (dropped
 * at the end), otherwise one in-memory PGlite (it takes seconds to start, so it is shared). Tables are emptied
 * between tests with {@link resetDb}.
 */
let shared: { db: Db; url?: string; drop?: () => Promise<void> } | undefined;

export const serverUrl = (): string | undefined => process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || undefined;

/** Creates an empty database on the configured PostgreSQL server and returns its URL and a function to drop it. */
export async function createPostgresDatabase(base: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `handoff_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: base, pool: { min: 0, max: 1 } });
  await admin.raw(`CREATE DATABASE ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.destroy();
    },
  };
}

export async function sharedDb(): Promise<Db> {
  if (!shared) {
    const base = serverUrl();
    if (base) {
      const { url, drop } = await createPostgresDatabase(base);
      const db = await openDb({ databaseUrl: url, dataDir: null });
      shared = { db, url, drop };
    } else {
      shared = { db: await openDb({ dataDir: null }) };
    }
    await migrateLatest(shared.db);
  }
  return shared.db;
}

/** The shared database's URL when it is PostgreSQL (child processes connect to it), else undefined. */
export function sharedDbUrl(): string | undefined {
  return shared?.url;
}

export function sharedEngine(): 'postgres' | 'pglite' {
  return shared && engineOf(shared.db) === 'postgres' ? 'postgres' : 'pglite';
}

const TABLES = [
  'oidc_store',
  'clients',
  'users',
  'signing_keys',
  'cookie_keys',
  'rate_counters',
  'device_pacing',
  'device_approvals',
  'qr_tickets',
  'audit_events',
  'account_sessions',
  'report_deliveries',
  'passkeys',
  'webauthn_challenges',
  'consents',
  'identity_providers',
  'account_links',
  'upstream_logins',
  'account_tokens',
  'registration_tokens',
  'client_registrations',
  'backchannel_requests',
  'push_subscriptions',
];

export async function resetDb(db: Db): Promise<void> {
  await db.raw(`TRUNCATE ${TABLES.join(', ')} RESTART IDENTITY`);
}

export async function closeSharedDb(): Promise<void> {
  if (!shared) return;
  await shared.db.destroy();
  await shared.drop?.();
  shared = undefined;
}

/** A database a test runs on: the shared one, and (see {@link bothEngines}) an embedded one beside it. */
export interface Engine {
  name: 'shared' | 'pglite';
  db: () => Promise<Db>;
}

/**
 * The engines a test runs on: the shared database, and a fresh in-memory PGlite too when the shared one is
 * PostgreSQL, so a property holds on both engines in CI. Call in `before`; `close` in `after`.
 */
export async function bothEngines(): Promise<{ engines: Engine[]; close: () => Promise<void> }> {
  const engines: Engine[] = [{ name: 'shared', db: sharedDb }];
  await sharedDb();
  if (sharedEngine() !== 'postgres') return { engines, close: async () => {} };
  const pglite = await openDb({ dataDir: null });
  await migrateLatest(pglite);
  engines.push({ name: 'pglite', db: async () => pglite });
  return { engines, close: () => pglite.destroy() };
}
