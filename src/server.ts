import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import type Provider from 'oidc-provider';
import { type AppDeps, buildAdminApp, buildPublicApp } from './app.js';
import { issuerFor } from './config/load.js';
import type { Config } from './config/schema.js';
import { createLogger, type Logger } from './log.js';
import { ensureAdminToken } from './admin/token.js';
import { ensureKeys, keySetVersion, loadCookieKeys, loadSigningKeys, rotateCookieKeys, rotateSigningKeys } from './oidc/keys.js';
import { createProvider } from './oidc/provider.js';
import { UserCodeGuard } from './device/limits.js';
import { closeDb, type Db, databaseUrlOf, engineOf, openDb } from './storage/db.js';
import { type EventBus, InProcessBus } from './events/bus.js';
import { PgEventBus } from './events/pg-bus.js';
import { WaitRegistry } from './events/waits.js';
import { Metrics } from './ops/metrics.js';
import { migrateLatest } from './storage/migrate.js';
import { startPurger } from './storage/purge.js';

/** A running Handoff: both listeners, the provider, and the database it owns (or was given). */
export interface Handoff {
  metrics: Metrics;
  bus: EventBus;
  waits: WaitRegistry;
  issuer: string;
  publicUrl: string;
  adminUrl: string;
  /** The bearer token of this instance's admin API (ADMIN_TOKEN, or the generated one in DATA_DIR/admin-token). */
  adminToken: string;
  db: Db;
  provider(): Provider;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Use this database instead of opening one from the config (tests share one PGlite); it is not closed. */
  db?: Db;
  log?: Logger;
}

/** PostgreSQL gets LISTEN/NOTIFY so instances share events; embedded PGlite is one process, so in-process suffices. */
async function createBus(db: Db, config: Config, log: Logger): Promise<EventBus> {
  if (engineOf(db) !== 'postgres') return new InProcessBus();
  const connection = databaseUrlOf(db) ?? config.databaseUrl;
  if (!connection) throw new Error('PostgreSQL connection string needed for the event listener');
  const bus = new PgEventBus(db, connection, log);
  await bus.start();
  return bus;
}

function listen(server: Server, port: number, host?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Every `Host` value that names the admin listener: its address and port under each name of this machine. */
function adminHostsFor(adminHost: string, port: number): Set<string> {
  const names = new Set(['127.0.0.1', 'localhost', '[::1]']);
  const wildcard = adminHost === '0.0.0.0' || adminHost === '::' || adminHost === '[::]';
  if (!wildcard) names.add(adminHost.includes(':') ? `[${adminHost}]` : adminHost);
  else {
    names.add(hostname());
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) names.add(a.family === 'IPv6' ? `[${a.address}]` : a.address);
  }
  return new Set([...names].map((n) => `${n.toLowerCase()}:${port}`));
}

function shut(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/**
 * Migrates, makes sure keys exist, binds both ports and serves. The public port is bound before the provider
 * is built so that `PORT=0` yields an issuer with the port actually bound.
 */
export async function startHandoff(config: Config, opts: StartOptions = {}): Promise<Handoff> {
  const log = opts.log ?? createLogger(config.logLevel);
  const db = opts.db ?? openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    return await start(config, db, log, opts);
  } catch (err) {
    if (!opts.db) await closeDb(db).catch(() => {});
    throw err;
  }
}

async function start(config: Config, db: Db, log: Logger, opts: StartOptions): Promise<Handoff> {
  const applied = await migrateLatest(db);
  if (applied.length) log.info('migrations applied', { applied });
  await ensureKeys(db);
  const adminToken = await ensureAdminToken(db, { adminToken: config.adminToken, dataDir: config.dataDir });

  const publicServer = createServer();
  const adminServer = createServer();
  const port = await listen(publicServer, config.port);
  const adminPort = await listen(adminServer, config.adminPort, config.adminHost);
  const issuer = issuerFor(config, port);

  const guard = new UserCodeGuard(db, config.device);
  const bus = await createBus(db, config, log);
  const waits = new WaitRegistry({
    max: config.realtime.maxConcurrentWaits,
    perAddress: config.realtime.maxWaitsPerAddress,
    perHandoff: config.realtime.maxWaitsPerHandoff,
  });
  const metrics = new Metrics(() => waits.byKind);
  const onOutcome = (kind: 'device' | 'desktop', outcome: 'approved' | 'denied' | 'revoked') => metrics.handoffs.inc({ kind, outcome });
  const realtime = { bus, waits, maxWaitSeconds: config.realtime.maxWaitSeconds, onOutcome };
  let cookieKeys = await loadCookieKeys(db);
  let version = await keySetVersion(db);
  const build = async () => {
    const provider = createProvider({ config, db, issuer, guard, realtime, signingKeys: await loadSigningKeys(db), cookieKeys });
    provider.on('server_error', (_ctx: unknown, err: Error) => log.error('provider error', { err }));
    return provider;
  };
  let provider = await build();
  const reload = async () => {
    cookieKeys = await loadCookieKeys(db);
    version = await keySetVersion(db);
    provider = await build();
    log.info('signing keys reloaded');
  };

  const deps: AppDeps = {
    config,
    metrics,
    onOutcome,
    issuer,
    guard,
    bus,
    waits,
    secrets: () => cookieKeys,
    db,
    log,
    provider: () => provider,
    adminHosts: () => adminHosts,
    adminToken: config.adminToken,
    rotateKeys: async () => {
      const rotated = await rotateSigningKeys(db, config.idTokenTtl + 300);
      await reload();
      log.info('signing keys rotated', rotated);
      return rotated;
    },
    rotateCookieKeys: async () => {
      // Old keys verify as long as anything they signed can live: a session, and an interaction begun just before.
      const rotated = await rotateCookieKeys(db, config.sessionTtl + config.interactionTtl);
      await reload();
      log.info('cookie keys rotated', rotated);
      return rotated;
    },
  };
  const adminHosts = adminHostsFor(config.adminHost, adminPort);
  publicServer.on('request', buildPublicApp(deps, () => provider).callback());
  adminServer.on('request', buildAdminApp(deps).callback());

  // Another instance may rotate keys, and retired keys leave the JWKS when their tokens have expired.
  const keyWatch = setInterval(() => {
    keySetVersion(db)
      .then((v) => (v !== version ? reload() : undefined))
      .catch((err: unknown) => log.warn('key check failed', { err }));
  }, 30_000);
  keyWatch.unref();
  const stopPurge = startPurger(
    db,
    { batchSize: config.purgeBatchSize, graceSeconds: 3600, intervalSeconds: config.purgeIntervalSeconds },
    (deleted, err) => {
      metrics.purges.inc({ result: err ? 'failed' : 'ok' });
      if (err) log.warn('purge failed', { err });
      else {
        metrics.purged.inc(deleted);
        log.debug('purge ran', { deleted });
      }
    },
  );

  return {
    issuer,
    publicUrl: `http://localhost:${port}`,
    adminUrl: `http://${config.adminHost.includes(':') ? `[${config.adminHost}]` : config.adminHost}:${adminPort}`,
    adminToken,
    db,
    provider: () => provider,
    bus,
    waits,
    metrics,
    async close() {
      clearInterval(keyWatch);
      stopPurge();
      // Stop accepting, then end every wait: held requests answer authorization_pending, streams get a retry hint.
      const closing = Promise.all([shut(publicServer), shut(adminServer)]);
      waits.shutdown();
      const force = setTimeout(() => {
        publicServer.closeAllConnections();
        adminServer.closeAllConnections();
      }, 8000);
      force.unref();
      await closing;
      clearTimeout(force);
      await bus.close();
      if (!opts.db) await closeDb(db);
    },
  };
}
