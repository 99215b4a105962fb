import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Provider from 'oidc-provider';
import { type AppDeps, buildAdminApp, buildPublicApp } from './app.js';
import { issuerFor } from './config/load.js';
import type { Config } from './config/schema.js';
import { createLogger, type Logger } from './log.js';
import { ensureKeys, keySetVersion, loadCookieKeys, loadSigningKeys, rotateSigningKeys } from './oidc/keys.js';
import { createProvider } from './oidc/provider.js';
import { UserCodeGuard } from './device/limits.js';
import { type Db, openDb } from './storage/db.js';
import { migrateLatest } from './storage/migrate.js';
import { startPurger } from './storage/purge.js';

/** A running Handoff: both listeners, the provider, and the database it owns (or was given). */
export interface Handoff {
  issuer: string;
  publicUrl: string;
  adminUrl: string;
  db: Db;
  provider(): Provider;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Use this database instead of opening one from the config (tests share one PGlite); it is not closed. */
  db?: Db;
  log?: Logger;
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
  const applied = await migrateLatest(db);
  if (applied.length) log.info('migrations applied', { applied });
  await ensureKeys(db);

  const publicServer = createServer();
  const adminServer = createServer();
  const port = await listen(publicServer, config.port);
  const adminPort = await listen(adminServer, config.adminPort, config.adminHost);
  const issuer = issuerFor(config, port);

  const guard = new UserCodeGuard(db, config.device);
  let cookieKeys = await loadCookieKeys(db);
  let version = await keySetVersion(db);
  const build = async () => {
    const provider = createProvider({ config, db, issuer, guard, signingKeys: await loadSigningKeys(db), cookieKeys });
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
    issuer,
    guard,
    secrets: () => cookieKeys,
    db,
    log,
    provider: () => provider,
    csrfKey: () => cookieKeys[0] ?? '',
    rotateKeys: async () => {
      const rotated = await rotateSigningKeys(db, config.idTokenTtl + 300);
      await reload();
      log.info('signing keys rotated', rotated);
      return rotated;
    },
  };
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
    (deleted, err) => (err ? log.warn('purge failed', { err }) : log.debug('purge ran', { deleted })),
  );

  return {
    issuer,
    publicUrl: `http://localhost:${port}`,
    adminUrl: `http://${config.adminHost.includes(':') ? `[${config.adminHost}]` : config.adminHost}:${adminPort}`,
    db,
    provider: () => provider,
    async close() {
      clearInterval(keyWatch);
      stopPurge();
      await Promise.all([shut(publicServer), shut(adminServer)]);
      if (!opts.db) await db.destroy();
    },
  };
}
