import type { Context, Middleware } from 'koa';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';
import { requestContext } from '../log.js';
import { newRequestId } from '../http/front-door.js';

/** A name for a request no router of ours matched (app.ts gives oidc-provider's route names, `oidc:<route>`). */
export type RouteNamer = (ctx: Context) => string | undefined;

/**
 * The route a request took, as a template: the router pattern (ours, `/q/:ticket`, or oidc-provider's, `/token`),
 * else what `named` says (oidc-provider's route name), else `unmatched`. Logs and metrics use it instead of the
 * path, which can carry codes and tickets.
 */
export function routeOf(ctx: Context, named?: RouteNamer): string {
  // @koa/router leaves the matched route's pattern on the context (its documented `_matchedRoute`).
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  if (typeof matched === 'string') return matched;
  return named?.(ctx) ?? 'unmatched';
}

/** One JSON log line and metrics per request, with its request id (the front door's, http/front-door.ts). */
export function telemetry(log: Logger, metrics: Metrics, info: boolean, named?: RouteNamer): Middleware {
  return (ctx, next) => {
    const requestId = newRequestId(ctx.get('x-request-id'));
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    return requestContext.run({ requestId }, async () => {
      try {
        await next();
      } finally {
        const route = routeOf(ctx, named);
        const seconds = (performance.now() - started) / 1000;
        metrics.recordRequest(route, ctx.method, ctx.status, seconds);
        if (info) log.info('request', { method: ctx.method, route, status: ctx.status, ms: Math.round(seconds * 10000) / 10 });
      }
    });
  };
}
