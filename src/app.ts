import type Router from '@koa/router';
import Koa, { type Middleware } from 'koa';
import compose from 'koa-compose';
import type Provider from 'oidc-provider';
import { accountRoutes } from './accounts/routes.js';
import { upstreamRoutes } from './oidc/upstream-routes.js';
import { signupRoutes } from './oidc/signup-routes.js';
import { cibaPhoneRoutes, waitingFor } from './ciba/phone.js';
import type { WebPush } from './ciba/push.js';
import { selfService } from './accounts/self-service.js';
import type { Mailer } from './accounts/mail.js';
import type { Upstreams } from './accounts/upstream.js';
import { sessionNotes } from './accounts/sessions.js';
import { type AdminDeps, adminRoutes } from './admin/routes.js';
import { requireAdminToken } from './admin/token.js';
import type { Config } from './config/schema.js';
import { deviceAuthorization } from './device/authorization.js';
import { qrImageRoutes } from './device/qr-images.js';
import { statusRoutes } from './device/status.js';
import { verificationGuards } from './device/verification.js';
import type { EventBus } from './events/bus.js';
import type { WaitRegistry } from './events/waits.js';
import { assetRoutes } from './http/assets.js';
import type { Reporter } from './ops/reports.js';
import { renderError } from './http/error-page.js';
import { HttpError } from './http/errors.js';
import type { Arrival } from './http/front-door.js';
import { adminOnly } from './http/host.js';
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
 * - public: the front door's decisions (http/front-door.ts, shared with the public lane) → telemetry → errors → a
 *   refusal of the front door → our pages and endpoints | the device flow around oidc-provider's endpoints →
 *   oidc-provider (swappable after a key rotation)
 * - admin:  errors → own Host only, no Origin → bearer token → admin API (JSON only) and ops routes
 */
export interface AppDeps extends InteractionDeps, Omit<AdminDeps, keyof InteractionDeps> {
  config: Config;
  log: Logger;
  metrics: Metrics;
  onOutcome: (kind: 'device' | 'desktop' | 'ciba', outcome: 'approved' | 'denied' | 'revoked') => void;
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
  /** The public port's front door (http/front-door.ts), the same one the public lane passes requests through. */
  door: (req: import('node:http').IncomingMessage) => Arrival;
  /** Upstream OpenID Providers (accounts/upstream.ts). */
  upstreams: Upstreams;
  /** Outgoing mail: address confirmations and password resets (accounts/mail.ts). */
  mailer: Mailer;
  /** Web Push for backchannel approval (ciba/push.ts). */
  push: WebPush;
  /** Anonymous registration's token, when `registration.open` is set (oidc/registration.ts). */
  openRegistration?: () => string | undefined;
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
 * After a request oidc-provider answered with the result of a desktop scan (the relying party has its code, whatever
 * the resume route), the desktop's Handoff session ends: a scan grants a sign-in to that relying party and nothing
 * else. The rule reads the interaction result, not the path, so no route that resumes a sign-in escapes it.
 */
async function endScanSession(ctx: import('koa').Context, provider: Provider): Promise<void> {
  const oidc = oidcOf(ctx);
  if (typeof oidc?.result?.handoff?.scan !== 'string') return;
  const session = oidc.session;
  if (session && !(session as { destroyed?: boolean }).destroyed) await session.destroy();
  ctx.cookies.set(provider.cookieName('session'), null, { signed: true, overwrite: true, path: '/' });
}

/**
 * A client reading or updating its registration (RFC 7592) is shown its metadata as stored, where a secret is only a
 * hash (`sha256:…`): that is no secret of the client's, so it is left out (the secret was given once, at registration).
 */
function hideStoredSecret(ctx: import('koa').Context): void {
  const route = oidcOf(ctx)?.route;
  // Discovery says what is implemented: a CIBA user_code is not (ciba/backchannel.ts ignores one, CIBA 7.1).
  if (route === 'discovery' && ctx.body && typeof ctx.body === 'object' && 'backchannel_user_code_parameter_supported' in ctx.body)
    (ctx.body as Record<string, unknown>).backchannel_user_code_parameter_supported = false;
  if (route !== 'client' && route !== 'client_update') return;
  const body = ctx.body as Record<string, unknown> | undefined;
  if (typeof body?.client_secret === 'string' && body.client_secret.startsWith('sha256:')) {
    delete body.client_secret;
    delete body.client_secret_expires_at;
  }
}

/**
 * An opaque origin (`Origin: null`: sandboxed frames, file pages) stands for every such page at once: no CORS answer
 * names it. oidc-provider's client-based check refuses it (oidc/cors.ts); its open endpoints (discovery, JWKS) and
 * preflights would echo it, so the echo is taken back here.
 */
function noOpaqueCors(ctx: import('koa').Context): void {
  if (ctx.get('origin') === 'null') ctx.remove('Access-Control-Allow-Origin');
}

export function buildPublicApp(deps: AppDeps, provider: () => Provider, plugins: AppPlugin[] = []): Koa {
  const app = new Koa();
  // X-Forwarded-For is trusted only behind a configured proxy, and then only as many hops as configured.
  app.proxy = deps.config.proxy;
  app.maxIpsCount = deps.config.proxyHops;
  app.silent = true;
  // The front door's decisions (made once, shared with the public lane): the client address the whole app reads as
  // ctx.ip, the canonical path every guard compares, and security headers.
  app.use((ctx, next) => {
    const arrival = deps.door(ctx.req);
    ctx.request.ip = arrival.ip;
    ctx.state.path = arrival.path;
    ctx.set(SECURITY_HEADERS);
    // Token answers are never cached: oidc-provider sends `Cache-Control: no-store`, and HTTP/1.0 caches read this.
    if (arrival.path === '/token') ctx.set('Pragma', 'no-cache');
    // Every cookie is signed and verified with the current provider's cookie keys, on our routes as on the
    // library's: after a rotation the very next request, whichever it is, uses the new keys.
    const keys = provider().keys;
    if (app.keys !== keys) app.keys = keys;
    return next();
  });
  app.use(telemetry(deps.log, deps.metrics, deps.config.logLevel === 'debug' || deps.config.logLevel === 'info', providerRoute));
  app.use(errors(deps.log, false));
  // A request the front door refused (or the lane failed to serve) is answered here, by the one error handler.
  app.use((ctx, next) => {
    const refused = deps.door(ctx.req).refused;
    if (refused !== undefined) throw refused;
    return next();
  });
  // Our pages and endpoints; everything else (the protocol endpoints) goes straight to oidc-provider without
  // walking them, which keeps the hot path (polls, token and device authorization requests) short.
  const qrLogin = qrDesktop(deps);
  const notes = sessionNotes(deps.store);
  const accounts = selfService(deps);
  const routers = [
    qrImageRoutes(deps),
    statusRoutes(deps),
    accountRoutes({ ...deps, sessionNotes: notes, waiting: (accountId) => waitingFor(deps.store, deps.provider(), accountId) }),
    cibaPhoneRoutes(deps),
    qrLogin.router,
    qrPhoneRoutes(deps),
    upstreamRoutes(deps),
    accounts.routes,
    signupRoutes({ ...deps, selfService: accounts }),
    interactionRoutes({
      ...deps,
      qrSection: qrLogin.section,
      selfService: { signup: deps.config.accounts.signup, recovery: deps.mailer.delivers },
    }),
    assetRoutes(Object.assign({}, ...plugins.map((p) => p.assets ?? {}))),
    ...plugins.flatMap((p) => p.routers),
  ];
  const ours = compose(routers.flatMap((r) => [r.routes(), r.allowedMethods()]) as Middleware[]);
  const prefixes = [
    'interaction',
    'account',
    'login',
    'q',
    'assets',
    'device/qr',
    'device/status',
    'favicon.svg',
    'favicon.ico',
    'push-sw.js',
    ...plugins.flatMap((p) => p.prefixes),
  ];
  const OURS = new RegExp(`^/(${prefixes.map((p) => p.replace(/[/.]/g, '\\$&')).join('|')})?(/|$)`);
  // The device flow around oidc-provider's device endpoints (device/), by the path as oidc-provider matches it.
  const authorization = deviceAuthorization(deps);
  const verification = verificationGuards(deps);
  const around: Middleware = (ctx, next) => {
    const path = ctx.state.path ?? '';
    if (path === '/device/auth') return authorization(ctx, next);
    // Anonymous registration, when open: the request is given the open policy's token, and the policy hook (where
    // the client is recorded) limits it. A spelling this misses carries no token, and the library refuses it.
    if (path === '/reg' && ctx.method === 'POST' && !ctx.get('authorization')) {
      const open = deps.openRegistration?.();
      if (open) ctx.req.headers.authorization = `Bearer ${open}`;
    }
    if (path === '/device' || path.startsWith('/device/')) return verification(ctx, next);
    return next();
  };
  // A path of ours that none of our routes serve falls through to oidc-provider through the same guards.
  app.use((ctx, next) => (OURS.test(ctx.path) ? ours(ctx, () => around(ctx, next)) : around(ctx, next)));
  // The provider is looked up per request, so a rebuilt provider (new keys) serves the very next request.
  let mounted: { provider: Provider; mw: Middleware } | undefined;
  app.use(async (ctx, next) => {
    const current = provider();
    if (mounted?.provider !== current) mounted = { provider: current, mw: mountProvider(current) };
    try {
      await mounted.mw(ctx, next);
    } finally {
      noOpaqueCors(ctx);
    }
    hideStoredSecret(ctx);
    await endScanSession(ctx, current);
    await notes.afterProvider(ctx, oidcOf(ctx));
    // Nothing at this address, ours or the library's: a styled page in the reader's language with a way home (or
    // `{error: "not_found"}` for a client that does not ask for HTML).
    if (ctx.status === 404 && ctx.body === undefined)
      renderError(ctx, new HttpError(404, 'not_found', 'no such page', { key: 'notFound.body' }));
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
