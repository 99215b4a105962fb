import { createServer, type Server } from 'node:http';
import { upstreams } from './accounts/upstream.js';
import { createMailer, type Mailer } from './accounts/mail.js';
import type { AddressInfo } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { type AppDeps, type AppPlugin, buildAdminApp, buildPublicApp } from './app.js';
import { ensureAdminToken } from './admin/token.js';
import { issuerFor } from './config/load.js';
import type { Config } from './config/schema.js';
import { frontDoor } from './http/front-door.js';
import { publicLane } from './device/lane.js';
import { deviceGrant } from './device/token.js';
import { approvalRules } from './device/approval-rules.js';
import { deviceFlowPages } from './device/verification.js';
import { type EventBus, InProcessBus } from './events/bus.js';
import { PgEventBus } from './events/pg-bus.js';
import { openFileLimit, WaitRegistry, waitCap } from './events/waits.js';
import { createLogger, type Logger } from './log.js';
import { corsAllowed } from './oidc/cors.js';
import { ensureKeys, rotateCookieKeys, rotateSigningKeys } from './oidc/keys.js';
import { createProvider } from './oidc/provider.js';
import { openRegistrationToken, REGISTRATION_POLICY, registrationPolicy } from './oidc/registration.js';
import { audit } from './ops/audit.js';
import { cibaGrant, cibaHooks } from './ciba/backchannel.js';
import { webPush } from './ciba/push.js';
import { Metrics } from './ops/metrics.js';
import { reporter, startDeliveries } from './ops/reports.js';
import { startPurger } from './ops/purger.js';
import { closeDb, type Db, databaseUrlOf, openDb } from './store/db.js';
import { createStore, type Store } from './store/index.js';
import { migrateLatest } from './store/migrate.js';

/** A running Handoff: both listeners, the provider, and the store it owns (or was given). */
export interface Handoff {
  metrics: Metrics;
  /** Outgoing mail (accounts/mail.ts): how it is sent, and `idle()` to wait for the queue. */
  mailer: Mailer;
  bus: EventBus;
  waits: WaitRegistry;
  issuer: string;
  publicUrl: string;
  adminUrl: string;
  /** The bearer token of this instance's admin API (ADMIN_TOKEN, or the generated one in DATA_DIR/admin-token). */
  adminToken: string;
  store: Store;
  db: Db;
  provider(): Provider;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Use this database instead of opening one from the config (tests share one PGlite); it is not closed. */
  db?: Db;
  log?: Logger;
  /** What the app serves besides Handoff itself (run.ts hands the demo in outside production). */
  plugins?: AppPlugin[];
}

/** PostgreSQL gets LISTEN/NOTIFY so instances share events; embedded PGlite is one process, so in-process suffices. */
async function createBus(store: Store, config: Config, log: Logger): Promise<EventBus> {
  if (store.engine !== 'postgres') return new InProcessBus();
  const connection = databaseUrlOf(store.db) ?? config.databaseUrl;
  if (!connection) throw new Error('PostgreSQL connection string needed for the event listener');
  const bus = new PgEventBus(store, connection, log);
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
 * The composition root: migrates, makes sure keys exist, builds the store, bus, waits, provider and apps, and only
 * then accepts connections, so the first request is answered. (With `PORT=0` and no `ISSUER`, tests', the port must
 * be bound to know the issuer: it is bound first, and its requests are handled once the app is built.)
 */
export async function startHandoff(config: Config, opts: StartOptions = {}): Promise<Handoff> {
  const log = opts.log ?? createLogger(config.logLevel);
  const db = opts.db ?? (await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  try {
    return await start(config, db, log, opts);
  } catch (err) {
    if (!opts.db) await closeDb(db).catch(() => {});
    throw err;
  }
}

/** The bus key that says "keys changed" (never a handoff's: those are 64 hex digits). */
const KEYS_CHANGED = 'keys';

async function start(config: Config, db: Db, log: Logger, opts: StartOptions): Promise<Handoff> {
  const applied = await migrateLatest(db);
  if (applied.length) log.info('migrations applied', { applied });
  const store = createStore(db);
  await ensureKeys(store);
  const adminToken = await ensureAdminToken(store, { adminToken: config.adminToken, dataDir: config.dataDir });

  const publicServer = createServer();
  const adminServer = createServer();
  const early = config.port === 0 && !config.issuer;
  const port = early ? await listen(publicServer, 0) : config.port;
  const issuer = issuerFor(config, port);

  const bus = await createBus(store, config, log);
  const fileLimit = openFileLimit();
  const maxWaits = waitCap(config.realtime.maxConcurrentWaits, fileLimit);
  if (maxWaits < config.realtime.maxConcurrentWaits)
    log.warn('holding fewer waits than realtime.maxConcurrentWaits: the open-file limit is lower', {
      configured: config.realtime.maxConcurrentWaits,
      held: maxWaits,
      openFileLimit: fileLimit,
    });
  const waits = new WaitRegistry(
    {
      max: maxWaits,
      perAddress: config.realtime.maxWaitsPerAddress,
      perHandoff: config.realtime.maxWaitsPerHandoff,
    },
    bus,
  );
  const metrics = new Metrics(() => waits.byKind, store.statementCount);
  const onOutcome = (kind: 'device' | 'desktop' | 'ciba', outcome: 'approved' | 'denied' | 'revoked') =>
    metrics.handoffs.inc({ kind, outcome });
  let cookieKeys = await store.keys.cookie();
  let version = await store.keys.version();
  const cors = (origin: string, uris: string[]) => corsAllowed(issuer, origin, uris);
  const deliveries = startDeliveries({ store, metrics, config, log });
  const mailer = createMailer(config, log);
  const report = reporter({ store, metrics, config, log, deliveries });
  const devicePages = deviceFlowPages({ config, store, bus, provider: () => provider, onOutcome, report, secrets: () => cookieKeys });
  const grant = deviceGrant({ config, store, bus, waits, corsAllowed: cors });
  const rules = approvalRules({ store, bus });
  const policy = registrationPolicy({ config, store });
  const push = webPush({ store, issuer, log });
  const cibaDeps = { config, store, bus, waits, secrets: () => cookieKeys, notify: push.notify };
  const ciba = { hooks: cibaHooks(cibaDeps), grant: cibaGrant(cibaDeps) };
  const build = async () => {
    const p = createProvider({
      config,
      store,
      issuer,
      signingKeys: await store.keys.signing(),
      cookieKeys,
      devicePages,
      deviceGrant: grant,
      approvalRules: rules,
      registrationPolicy: policy,
      ciba,
    });
    p.on('server_error', (_ctx: unknown, err: Error) => log.error('provider error', { err }));
    // Clients that register, change or delete themselves (RFC 7591/7592) are in the audit trail, with the address; a
    // registration names the initial access token that let the client in (its id, never the token).
    const registered =
      (action: 'client.registered' | 'client.updated' | 'client.deleted') => (ctx: KoaContextWithOIDC, client: { clientId: string }) => {
        const entry = async () => {
          const by = action === 'client.registered' ? await store.registrations.ofClient(client.clientId) : undefined;
          await audit(store, { action, clientId: client.clientId, actorIp: ctx.ip, detail: by ? { token_id: by.id } : {} });
        };
        entry().catch((err: unknown) => log.warn('audit failed', { err }));
      };
    p.on('registration_create.success', registered('client.registered'));
    p.on('registration_update.success', registered('client.updated'));
    p.on('registration_delete.success', registered('client.deleted'));
    return p;
  };
  let provider = await build();
  const openToken = config.registration.open
    ? await openRegistrationToken(store, config.registration.open, () =>
        new provider.InitialAccessToken({ policies: [REGISTRATION_POLICY] }).save(),
      )
    : undefined;
  const reload = async () => {
    cookieKeys = await store.keys.cookie();
    version = await store.keys.version();
    provider = await build();
    log.info('keys reloaded');
  };
  let adminHosts = new Set<string>();

  const deps: AppDeps = {
    config,
    metrics,
    onOutcome,
    report,
    issuer,
    bus,
    waits,
    secrets: () => cookieKeys,
    store,
    log,
    provider: () => provider,
    corsAllowed: cors,
    adminHosts: () => adminHosts,
    adminToken: config.adminToken,
    upstreams: upstreams(config, store),
    mailer,
    push,
    openRegistration: () => openToken,
    door: frontDoor({ issuer, proxy: config.proxy, proxyHops: config.proxyHops, bodyLimitBytes: config.bodyLimitBytes }),
    rotateKeys: async () => {
      const rotated = await rotateSigningKeys(store, config.idTokenTtl + 300);
      await reload();
      await bus.publish(KEYS_CHANGED);
      log.info('signing keys rotated', rotated);
      return rotated;
    },
    rotateCookieKeys: async (opts) => {
      // Old keys verify as long as anything they signed can live: a session, and an interaction begun just before;
      // in an emergency (a leaked key) not a moment longer.
      const rotated = await rotateCookieKeys(store, opts.now ? 0 : config.sessionTtl + config.interactionTtl);
      await reload();
      await bus.publish(KEYS_CHANGED);
      log.info('cookie keys rotated', rotated);
      return rotated;
    },
  };
  const app = buildPublicApp(deps, () => provider, opts.plugins ?? []).callback();
  publicServer.on('request', publicLane(deps, deps.door, app));
  adminServer.on('request', buildAdminApp(deps).callback());
  // Ready: only now do the ports accept connections (the early public port aside).
  const boundPort = early ? port : await listen(publicServer, config.port);
  const adminPort = await listen(adminServer, config.adminPort, config.adminHost);
  adminHosts = adminHostsFor(config.adminHost, adminPort);

  // Another instance may rotate keys (it says so on the bus, so every instance signs and verifies with the new keys
  // within moments), and retired keys leave the JWKS when their tokens have expired (checked every 30 seconds).
  const checkKeys = () => {
    store.keys
      .version()
      .then((v) => (v !== version ? reload() : undefined))
      .catch((err: unknown) => log.warn('key check failed', { err }));
  };
  const keyWatch = setInterval(checkKeys, 30_000);
  keyWatch.unref();
  const stopKeyEvents = bus.subscribe(KEYS_CHANGED, checkKeys);
  const stopPurge = startPurger(
    store,
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
    publicUrl: `http://localhost:${boundPort}`,
    adminUrl: `http://${config.adminHost.includes(':') ? `[${config.adminHost}]` : config.adminHost}:${adminPort}`,
    adminToken,
    store,
    db,
    provider: () => provider,
    bus,
    waits,
    metrics,
    mailer,
    async close() {
      clearInterval(keyWatch);
      stopKeyEvents();
      stopPurge();
      // Stop accepting, then end every wait: held requests answer authorization_pending, streams get a retry hint.
      const closing = Promise.all([shut(publicServer), shut(adminServer)]);
      waits.shutdown();
      await deliveries.stop();
      await mailer.close();
      const force = setTimeout(() => {
        publicServer.closeAllConnections();
        adminServer.closeAllConnections();
      }, 8000);
      force.unref();
      await closing;
      clearTimeout(force);
      await bus.close();
      await store.close();
      if (!opts.db) await closeDb(db);
    },
  };
}
