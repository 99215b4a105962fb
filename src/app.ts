import type Router from '@koa/router';
import Koa, { type Middleware } from 'koa';
import compose from 'koa-compose';
import type Provider from 'oidc-provider';
import { accountRoutes } from './accounts/routes.js';
import { type AdminDeps, adminRoutes } from './admin/routes.js';
import { requireAdminToken } from './admin/token.js';
import type { Config } from './config/schema.js';
import { deviceAuthorization } from './device/authorization.js';
import { qrImageRoutes } from './device/qr-images.js';
import { statusRoutes } from './device/status.js';
import { bodyForProvider } from './device/token.js';
import { verificationGuards } from './device/verification.js';
import type { EventBus } from './events/bus.js';
import type { WaitRegistry } from './events/waits.js';
import { assetRoutes } from './http/assets.js';
import type { Reporter } from './ops/reports.js';
import { renderError } from './http/error-page.js';
import { HttpError } from './http/errors.js';
import { adminOnly, fromIssuer } from './http/host.js';
import { canonicalPath, checkMethod } from './http/protocol-routes.js';
import { SECURITY_HEADERS } from './http/security-headers.js';
import type { Logger } from './log.js';
import { type InteractionDeps, interactionRoutes } from './oidc/interactions.js';
import { mountProvider, oidcOf } from './oidc/seams.js';
import { opsRoutes } from './ops/health.js';
import type { Metrics } from './ops/metrics.js';
import { type RouteNamer, routeOf, telemetry } from './ops/telemetry.js';
import { qrDesktop } from './qr-login/desktop.js';
import { qrPhoneRoutes } from './qr-login/phone.js';

/** oidc-provider's name for the route it served (`oidc:<route>`), for logs and metrics. */
const providerRoute: RouteNamer = (ctx) => {
  const route = oidcOf(ctx)?.route;
  return route ? `oidc:${route}` : undefined;
};
/**
 * Builds the two Koa apps; never listens (see server.ts).
 *
 * - public: telemetry → security headers → errors → Host from ISSUER → body limit → methods of protocol endpoints
 *   → our pages and endpoints | the device flow around oidc-provider's endpoints → oidc-provider (swappable after a
 *   key rotation)
 * - admin:  errors → own Host only, no Origin → bearer token → admin API (JSON only) and ops routes
 */
export interface AppDeps extends InteractionDeps, Omit<AdminDeps, keyof InteractionDeps> {
  config: Config;
  log: Logger;
  metrics: Metrics;
  onOutcome: (kind: 'device' | 'desktop', outcome: 'approved' | 'denied' | 'revoked') => void;
  /** "I didn't start this" reports (ops/reports.ts). */
  report: Reporter;
  issuer: string;
  bus: EventBus;
  waits: WaitRegistry;
  corsAllowed: (origin: string, redirectUris: string[]) => boolean;
  /** The admin API's own `Host` values (its address and port under every name it answers to). */
  adminHosts: () => Set<string>;
  /** ADMIN_TOKEN when set; otherwise tokens are checked against their stored hashes. */
  adminToken: string | undefined;
}

/**
 * Something the public app serves besides Handoff itself: its routers (under path `prefixes`) and page scripts.
 * run.ts hands the demo in outside production; the production app builder imports no demo code.
 */
export interface AppPlugin {
  prefixes: string[];
  routers: Router[];
  assets?: Record<string, string>;
}

/** Refuses a declared body over the limit before anything reads it (oidc-provider has its own 56 KiB cap too). */
function bodyLimit(limit: number): Middleware {
  return async (ctx, next) => {
    const length = ctx.request.length;
    if (length !== undefined && length > limit) throw new HttpError(413, 'invalid_request', `request body exceeds ${limit} bytes`);
    await next();
  };
}

/** The one error handler: every error becomes one answer (http/error-page.ts), 5xx logged. */
function errors(log: Logger, json: boolean): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const d = renderError(ctx, err, { json });
      if (d.status >= 500) log.error('request failed', { method: ctx.method, route: routeOf(ctx, providerRoute), err });
    }
  };
}

/**
 * After the authorization request a desktop scan finished has been answered (the relying party has its code),
 * the desktop's Handoff session ends: a scan grants a sign-in to that relying party and nothing else.
 */
function endScanSessions(provider: () => Provider): Middleware {
  return async (ctx, next) => {
    await next();
    const oidc = oidcOf(ctx);
    if (typeof oidc?.result?.handoff?.scan !== 'string') return;
    const session = oidc.session;
    if (session && !(session as { destroyed?: boolean }).destroyed) await session.destroy();
    ctx.cookies.set(provider().cookieName('session'), null, { signed: true, overwrite: true, path: '/' });
  };
}

export function buildPublicApp(deps: AppDeps, provider: () => Provider, plugins: AppPlugin[] = []): Koa {
  const app = new Koa();
  // X-Forwarded-For is trusted only behind a configured proxy, and then only as many hops as configured.
  app.proxy = deps.config.proxy;
  app.maxIpsCount = deps.config.proxyHops;
  app.silent = true;
  app.use(telemetry(deps.log, deps.metrics, deps.config.logLevel === 'debug' || deps.config.logLevel === 'info', providerRoute));
  app.use(errors(deps.log, false));
  // The front door, one middleware (every request passes it, so it is one function, not five): security headers,
  // every URL from ISSUER, the body limit, and 405 for a wrong method on a protocol endpoint.
  const issuerUrl = new URL(deps.issuer);
  const https = issuerUrl.protocol === 'https:';
  const limit = deps.config.bodyLimitBytes;
  app.use((ctx, next) => {
    ctx.set(SECURITY_HEADERS);
    // The issuer is the URL browsers use: with https, TLS is terminated in front of us even when the hop to this
    // process is plain HTTP. Koa and oidc-provider (which builds its own cookie jar from the raw request) decide
    // `Secure` from the socket, so the socket is marked as the encrypted connection it stands for.
    if (https) (ctx.req.socket as { encrypted?: boolean }).encrypted = true;
    fromIssuer(issuerUrl, ctx.req.headers);
    const length = ctx.request.length;
    if (length !== undefined && length > limit) throw new HttpError(413, 'invalid_request', `request body exceeds ${limit} bytes`);
    ctx.state.path = canonicalPath(ctx.path);
    checkMethod(ctx.state.path, ctx.method);
    return next();
  });
  // Our pages and endpoints; everything else (the protocol endpoints) goes straight to oidc-provider without
  // walking them, which keeps the hot path (polls, token and device authorization requests) short.
  const qrLogin = qrDesktop(deps);
  const routers = [
    qrImageRoutes(deps),
    statusRoutes(deps),
    accountRoutes(deps),
    qrLogin.router,
    qrPhoneRoutes(deps),
    interactionRoutes({ ...deps, qrSection: qrLogin.section }),
    assetRoutes(Object.assign({}, ...plugins.map((p) => p.assets ?? {}))),
    ...plugins.flatMap((p) => p.routers),
  ];
  const ours = compose(routers.flatMap((r) => [r.routes(), r.allowedMethods()]) as Middleware[]);
  const prefixes = [
    'interaction',
    'account',
    'q',
    'assets',
    'device/qr',
    'device/status',
    'favicon.svg',
    'favicon.ico',
    ...plugins.flatMap((p) => p.prefixes),
  ];
  const OURS = new RegExp(`^/(${prefixes.map((p) => p.replace(/[/.]/g, '\\$&')).join('|')})?(/|$)`);
  // The device flow around oidc-provider's three device endpoints (device/), and the end of a scan's session.
  const authorization = deviceAuthorization(deps);
  const verification = verificationGuards(deps);
  // A token request the public lane read and handed on (device/lane.ts) gets its body back for oidc-provider.
  const token = bodyForProvider();
  const resume = endScanSessions(provider);
  const around: Middleware = (ctx, next) => {
    const path = ctx.state.path ?? canonicalPath(ctx.path);
    if (path === '/token') return token(ctx, next);
    if (path === '/device/auth') return authorization(ctx, next);
    if (path === '/device' || path.startsWith('/device/')) return verification(ctx, next);
    if (path.startsWith('/auth/')) return resume(ctx, next);
    return next();
  };
  // A path of ours that none of our routes serve falls through to oidc-provider through the same guards.
  app.use((ctx, next) => (OURS.test(ctx.path) ? ours(ctx, () => around(ctx, next)) : around(ctx, next)));
  // The provider is looked up per request, so a rebuilt provider (new keys) serves the very next request.
  let mounted: { provider: Provider; mw: Middleware } | undefined;
  app.use((ctx, next) => {
    const current = provider();
    if (mounted?.provider !== current) {
      mounted = { provider: current, mw: mountProvider(current) };
      // Cookies are read and written through this app's context, so it signs with the provider's cookie keys.
      app.keys = current.keys;
    }
    return mounted.mw(ctx, next);
  });
  return app;
}

export function buildAdminApp(deps: AppDeps): Koa {
  const app = new Koa();
  app.silent = true;
  app.use(errors(deps.log, true));
  app.use(adminOnly(deps.adminHosts));
  app.use(requireAdminToken(deps.store, deps.adminToken));
  app.use(bodyLimit(deps.config.bodyLimitBytes));
  for (const router of [adminRoutes(deps), opsRoutes(deps)]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  app.use((ctx) => {
    ctx.status = 404;
    ctx.body = { error: 'not_found', error_description: 'no such route' };
  });
  return app;
}
