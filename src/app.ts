import Koa, { type Context, type Middleware } from 'koa';
import compose from 'koa-compose';
import mount from 'koa-mount';
import type Provider from 'oidc-provider';
import { type AdminDeps, adminRoutes } from './admin/routes.js';
import { requireAdminToken } from './admin/token.js';
import type { Config } from './config/schema.js';
import { HttpError } from './http/errors.js';
import { accountRoutes } from './accounts/routes.js';
import { demoTvRoutes } from './demo/tv.js';
import { assetRoutes } from './http/assets.js';
import { adminOnly, issuerHost } from './http/host.js';
import { canonicalPath, protocolMethods } from './http/protocol-routes.js';
import { qrDesktop } from './qr-login/desktop.js';
import { qrPhoneRoutes } from './qr-login/phone.js';
import type { UserCodeGuard } from './device/limits.js';
import { markAnswered } from './device/device-code-adapter.js';
import { statusRoutes } from './device/status-stream.js';
import type { WaitRegistry } from './events/waits.js';
import type { EventBus } from './events/bus.js';
import { requireDeviceSession } from './device/require-session.js';
import { confirmFromLink, enrichDeviceAuthorization, qrRoutes } from './device/routes.js';
import { securityHeaders } from './http/security-headers.js';
import { opsRoutes } from './ops/health.js';
import type { Metrics } from './ops/metrics.js';
import { routeOf, telemetry } from './ops/telemetry.js';
import type { Logger } from './log.js';
import { type InteractionDeps, interactionErrorPage, interactionRoutes } from './oidc/interactions.js';

/**
 * Builds the two Koa apps; never listens (see server.ts).
 *
 * - public: telemetry → security headers → error pages → Host from ISSUER → body limit → methods of protocol
 *   endpoints → our pages and endpoints | guards around oidc-provider's → oidc-provider (swappable after key rotation)
 * - admin:  JSON errors → own Host only, no Origin → bearer token → admin API (JSON only) and ops routes
 */
export interface AppDeps extends InteractionDeps, Omit<AdminDeps, keyof InteractionDeps> {
  config: Config;
  log: Logger;
  metrics: Metrics;
  onOutcome: (kind: 'device' | 'desktop', outcome: 'approved' | 'denied' | 'revoked') => void;
  issuer: string;
  guard: UserCodeGuard;
  bus: EventBus;
  waits: WaitRegistry;
  /** The admin API's own `Host` values (its address and port under every name it answers to). */
  adminHosts: () => Set<string>;
  /** ADMIN_TOKEN when set; otherwise tokens are checked against their stored hashes. */
  adminToken: string | undefined;
}

/** Refuses a declared body over the limit before anything reads it (oidc-provider has its own 56 KiB cap too). */
function bodyLimit(limit: number): Middleware {
  return async (ctx, next) => {
    const length = ctx.request.length;
    if (length !== undefined && length > limit) {
      throw new HttpError(413, 'invalid_request', `request body exceeds ${limit} bytes`);
    }
    await next();
  };
}

function describe(err: unknown): {
  status: number;
  error: string;
  description: string;
  expose: boolean;
  headers: Record<string, string>;
  field?: string;
} {
  if (err instanceof HttpError) {
    return {
      status: err.status,
      error: err.error,
      description: err.message,
      expose: err.expose,
      headers: err.headers,
      ...(err.field ? { field: err.field } : {}),
    };
  }
  const e = err as { status?: unknown; expose?: unknown; message?: unknown };
  const status = typeof e.status === 'number' && e.status >= 400 && e.status < 600 ? e.status : 500;
  const expose = status < 500 && e.expose === true;
  return {
    status,
    error: status < 500 ? 'invalid_request' : 'server_error',
    description: expose ? String(e.message) : 'internal error',
    expose,
    headers: {},
  };
}

function errors(log: Logger, render: (ctx: Context, d: ReturnType<typeof describe>) => void): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const d = describe(err);
      if (d.status >= 500) log.error('request failed', { method: ctx.method, route: routeOf(ctx), err });
      ctx.status = d.status;
      ctx.set(d.headers);
      render(ctx, d);
    }
  };
}

/** oidc-provider's context of a request it served (defined on the Koa context by the provider's router). */
function oidcOf(ctx: Context): { result?: unknown; session?: { destroyed?: boolean; destroy(): Promise<void> } } | undefined {
  return Object.getOwnPropertyDescriptor(ctx, 'oidc') ? (ctx as unknown as { oidc: ReturnType<typeof oidcOf> }).oidc : undefined;
}

/**
 * After the authorization request a desktop scan finished has been answered (the relying party has its code),
 * the desktop's Handoff session ends: a scan grants a sign-in to that relying party and nothing else.
 */
function endScanSessions(provider: () => Provider): Middleware {
  return async (ctx, next) => {
    await next();
    const oidc = oidcOf(ctx);
    const result = oidc?.result as { handoff?: { scan?: unknown } } | undefined;
    if (typeof result?.handoff?.scan !== 'string') return;
    if (oidc?.session && !oidc.session.destroyed) await oidc.session.destroy();
    ctx.cookies.set(provider().cookieName('session'), null, { signed: true, overwrite: true, path: '/' });
  };
}

/** Records when a device code's tokens were answered (a later presentation is a replay; see markAnswered). */
function recordAnswers(deps: AppDeps): Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.method !== 'POST' || ctx.status !== 200) return;
    const entities = (oidcOf(ctx) as { entities?: { DeviceCode?: { jti?: unknown } } } | undefined)?.entities;
    const id = entities?.DeviceCode?.jti;
    if (typeof id === 'string') await markAnswered(deps.db, id);
  };
}

export function buildPublicApp(deps: AppDeps, provider: () => Provider): Koa {
  const app = new Koa();
  // X-Forwarded-For is trusted only behind a configured proxy, and then only as many hops as configured.
  app.proxy = deps.config.proxy;
  app.maxIpsCount = deps.config.proxyHops;
  app.silent = true;
  app.use(telemetry(deps.log, deps.metrics));
  app.use(securityHeaders());
  if (deps.issuer.startsWith('https:')) {
    // The issuer is the URL browsers use: with https, TLS is terminated in front of us even when the hop to this
    // process is plain HTTP. Koa and oidc-provider (which builds its own cookie jar from the raw request) decide
    // `Secure` from the socket, so the socket is marked as the encrypted connection it stands for.
    app.use((ctx, next) => {
      (ctx.req.socket as { encrypted?: boolean }).encrypted = true;
      return next();
    });
  }
  app.use(
    errors(deps.log, (ctx, d) => {
      if (ctx.accepts('html', 'json') === 'json') {
        ctx.body = { error: d.error, error_description: d.description };
      } else {
        ctx.type = 'html';
        ctx.body = interactionErrorPage(
          new HttpError(d.status, d.error, d.expose ? d.description : 'Something went wrong on our side. Try again.'),
        );
      }
    }),
  );
  app.use(issuerHost(deps.issuer));
  app.use(bodyLimit(deps.config.bodyLimitBytes));
  app.use(protocolMethods());
  // Our pages and endpoints; everything else (the protocol endpoints) goes straight to oidc-provider without
  // walking them, which keeps the hot path (polls, token and device authorization requests) short.
  const qrLogin = qrDesktop(deps);
  const routers = [
    qrRoutes(deps),
    statusRoutes(deps),
    accountRoutes(deps),
    qrLogin.router,
    qrPhoneRoutes(deps),
    interactionRoutes({ ...deps, qrSection: qrLogin.section }),
    assetRoutes({ demo: deps.config.env !== 'production' }),
  ];
  if (deps.config.env !== 'production') routers.push(demoTvRoutes());
  const ours = compose(routers.flatMap((r) => [r.routes(), r.allowedMethods()]) as Middleware[]);
  const OURS = /^\/(interaction|account|q|assets|demo|device\/qr|device\/status)(\/|$)/;
  const device = compose([requireDeviceSession(provider), enrichDeviceAuthorization(deps), confirmFromLink(deps)]);
  const token = recordAnswers(deps);
  const resume = endScanSessions(provider);
  const guards: Middleware = (ctx, next) => {
    const path = canonicalPath(ctx.path);
    if (path === '/device' || path.startsWith('/device/')) return device(ctx, next);
    if (path === '/token') return token(ctx, next);
    if (path.startsWith('/auth/')) return resume(ctx, next);
    return next();
  };
  // A path of ours that none of our routes serve falls through to oidc-provider through the same guards.
  app.use((ctx, next) => (OURS.test(ctx.path) ? ours(ctx, () => guards(ctx, next)) : guards(ctx, next)));
  // The provider is looked up per request, so a rebuilt provider (new keys) serves the very next request.
  let mounted: { provider: Provider; mw: Middleware } | undefined;
  app.use((ctx, next) => {
    const current = provider();
    if (mounted?.provider !== current) {
      mounted = { provider: current, mw: mount(current as unknown as Koa) };
      // Cookies are read and written through this app's context, so it signs with the provider's cookie keys.
      app.keys = current.keys as string[];
    }
    return mounted.mw(ctx, next);
  });
  return app;
}

export function buildAdminApp(deps: AppDeps): Koa {
  const app = new Koa();
  app.silent = true;
  app.use(
    errors(deps.log, (ctx, d) => {
      ctx.body = { error: d.error, error_description: d.description, ...(d.field ? { field: d.field } : {}) };
    }),
  );
  app.use(adminOnly(deps.adminHosts));
  app.use(requireAdminToken(deps.db, deps.adminToken));
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
