import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import parseurl from 'parseurl';
import { declaredLength, LIBRARY_BODY_LIMIT } from './body.js';
import { HttpError } from './errors.js';
import { fromIssuer } from './host.js';
import { flat } from './parked.js';
import { canonicalPath, checkMethod } from './protocol-routes.js';

/**
 * The public port's one front door. Every request passes it exactly once, before the public lane (device/lane.ts)
 * or the Koa app sees it, and both read what it decided from here instead of deciding again:
 *
 * - every URL Handoff emits derives from ISSUER (http/host.ts), a malformed `Host` is refused;
 * - the request id (a valid incoming `X-Request-Id`, else a new one), kept in the request's headers for the logs;
 * - the client address, computed as Koa computes `ctx.ip` (the app is handed this very value);
 * - the path as oidc-provider's router matches it (every guard compares this one), and 405 for a method an endpoint
 *   does not answer;
 * - a declared body over the limit is refused before a byte is read (http/body.ts reads every body, once).
 *
 * A refusal is not written here: it is kept on the arrival and thrown inside the app, whose one error handler writes
 * every error the same way.
 */
export interface Arrival {
  requestId: string;
  /** The path as oidc-provider's router matches it: ASCII lower case, without one trailing slash. */
  path: string;
  /** The path as sent (handles and tickets in paths are case-sensitive). */
  rawPath: string;
  /** The client address (`ctx.ip`). */
  ip: string;
  /** Why the request is refused, when it is (an HttpError, or whatever failed before the app took the request). */
  refused?: unknown;
}

export interface FrontDoorOptions {
  issuer: string;
  proxy: boolean;
  proxyHops: number;
  bodyLimitBytes: number;
}

const REQUEST_ID = /^[\w.-]{8,64}$/;

/**
 * A valid incoming X-Request-Id, else a new one. Node builds a UUID by joining some twenty pieces, a tree of strings
 * that lives as long as the request (a held one: minutes); it is copied into one flat string here.
 */
export function newRequestId(incoming: unknown): string {
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : flat(randomUUID());
}

/**
 * The client address exactly as Koa 3 computes `ctx.ip`: behind a trusted proxy, the `X-Forwarded-For` entries
 * (comma-split, trimmed), the last `hops` of them, the first of those; otherwise (or when that entry is empty) the
 * socket's address.
 */
export function clientAddress(req: IncomingMessage, proxy: boolean, hops: number): string {
  const header = req.headers['x-forwarded-for'];
  const value = Array.isArray(header) ? header.join(', ') : header;
  let ips = proxy && value ? value.split(',').map((v) => v.trim()) : [];
  if (hops > 0) ips = ips.slice(-hops);
  return ips[0] || req.socket.remoteAddress || '';
}

const arrivals = new WeakMap<IncomingMessage, Arrival>();

/** What the front door decided for this request (undefined before it passed). */
export const arrivalOf = (req: IncomingMessage): Arrival | undefined => arrivals.get(req);

/** Marks a request that passed the door as failed, so the app answers it with `err` (the lane hands such requests on). */
export function refuse(req: IncomingMessage, err: unknown): void {
  const arrival = arrivals.get(req);
  if (arrival) arrival.refused = err;
}

export function frontDoor(opts: FrontDoorOptions): (req: IncomingMessage) => Arrival {
  const issuerUrl = new URL(opts.issuer);
  const https = issuerUrl.protocol === 'https:';
  const limit = Math.min(opts.bodyLimitBytes, LIBRARY_BODY_LIMIT);
  return (req) => {
    const known = arrivals.get(req);
    if (known) return known;
    // The path exactly as Koa reads `ctx.path` (and so oidc-provider's router): an absolute-form request target
    // (`POST http://host/token`) has the path `/token` here as there.
    const rawPath = parseurl(req)?.pathname ?? '/';
    const requestId = newRequestId(req.headers['x-request-id']);
    req.headers['x-request-id'] = requestId;
    const arrival: Arrival = {
      requestId,
      rawPath,
      path: canonicalPath(rawPath),
      ip: clientAddress(req, opts.proxy, opts.proxyHops),
    };
    arrivals.set(req, arrival);
    // The issuer is the URL browsers use: with https, TLS is terminated in front of us even when the hop to this
    // process is plain HTTP. Koa and oidc-provider (which builds its own cookie jar from the raw request) decide
    // `Secure` from the socket, so the socket is marked as the encrypted connection it stands for.
    if (https) (req.socket as { encrypted?: boolean }).encrypted = true;
    try {
      fromIssuer(issuerUrl, req.headers);
      const length = declaredLength(req);
      if (length !== undefined && length > limit) throw new HttpError(413, 'invalid_request', `request body exceeds ${limit} bytes`);
      checkMethod(arrival.path, req.method ?? 'GET');
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      arrival.refused = err;
    }
    return arrival;
  };
}
