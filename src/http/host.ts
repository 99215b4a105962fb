import type { Middleware } from 'koa';
import { HttpError } from './errors.js';

/**
 * Every URL Handoff emits derives from ISSUER, never from the request: a client that sends its own `Host` or
 * `X-Forwarded-Host` must not move `token_endpoint` to a host of its choosing. Koa and oidc-provider build URLs from
 * the request's host and protocol, so this middleware refuses a malformed `Host` (400) and then rewrites host and
 * protocol to the issuer's before anything reads them. `X-Forwarded-For` (the client address) is left alone.
 */
const HOST = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*\.?)(?::(\d{1,5}))?$/;

/** Whether a `Host` header value is a syntactically valid host with an optional port (RFC 9110 7.2). */
export function isValidHost(value: string): boolean {
  const m = HOST.exec(value);
  if (!m) return false;
  return m[1] === undefined || Number(m[1]) <= 65535;
}

/**
 * Rewrites a request's host and protocol headers as described above (throws 400 for a malformed Host). `Origin` is
 * left exactly as sent: an opaque origin (`null`: sandboxed frames, file pages) reaches oidc-provider's client-based
 * CORS check like any other and is refused there (oidc/cors.ts); it is never taken for a request without one.
 */
export function fromIssuer(url: URL, headers: Record<string, string | string[] | undefined>): void {
  const host = headers.host;
  if (typeof host === 'string' && !isValidHost(host)) throw new HttpError(400, 'invalid_request', 'malformed Host header');
  headers.host = url.host;
  delete headers['x-forwarded-host'];
  headers['x-forwarded-proto'] = url.protocol.slice(0, -1);
}

/**
 * The admin listener answers only requests addressed to itself: a `Host` that is not one of its own names (DNS
 * rebinding) or any `Origin` (a page in a browser on this machine) is refused before routing.
 */
export function adminOnly(allowedHosts: () => Set<string>): Middleware {
  return (ctx, next) => {
    const host = (ctx.req.headers.host ?? '').toLowerCase();
    if (!allowedHosts().has(host))
      throw new HttpError(403, 'invalid_request', 'this admin API answers only requests addressed to its own address');
    if (ctx.req.headers.origin !== undefined) throw new HttpError(403, 'invalid_request', 'the admin API refuses requests from web pages');
    return next();
  };
}
