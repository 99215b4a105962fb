import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import type { WaitRegistry } from '../events/waits.js';
import { openEventStream } from '../http/event-stream.js';
import { fromIssuer } from '../http/host.js';
import { canonicalPath } from '../http/protocol-routes.js';
import { SECURITY_HEADERS } from '../http/security-headers.js';
import { type Logger, requestContext } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { newRequestId } from '../ops/telemetry.js';
import type { Store } from '../store/index.js';
import { keyOfHandle, statusView } from './status.js';
import { devicePoll, keepBody } from './token.js';

/**
 * The public lane: the two requests a waiting device sends, over and over or for minutes, are served here straight
 * from the HTTP server, before Koa builds a context for them:
 *
 * - `POST /token` with a form body: device-grant polls and held requests (token.ts); anything else, and every
 *   decided code, goes on to the app with the body it read;
 * - `GET /device/status/<handle>` asking for `text/event-stream`: the waiting screen's stream (status.ts).
 *
 * They get the front door's treatment (security headers, a request id, Host from ISSUER) and are counted in the
 * metrics as the app counts its own. Every other request is the app's.
 */
export interface LaneDeps {
  config: Config;
  issuer: string;
  store: Store;
  bus: EventBus;
  waits: WaitRegistry;
  metrics: Metrics;
  log: Logger;
  secrets: () => string[];
  corsAllowed: (origin: string, redirectUris: string[]) => boolean;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** The client address as Koa computes it: behind a trusted proxy, the entry `proxyHops` from the right. */
function clientIp(req: IncomingMessage, config: Config): string {
  const forwarded = req.headers['x-forwarded-for'];
  if (config.proxy && typeof forwarded === 'string' && forwarded) {
    const ips = forwarded.split(/\s*,\s*/).slice(-config.proxyHops);
    if (ips[0]) return ips[0];
  }
  return req.socket.remoteAddress ?? '';
}

function readBody(req: IncomingMessage, length: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received <= length) chunks.push(chunk);
    });
    req.on('end', () => resolve(received === length ? Buffer.concat(chunks, received) : undefined));
    req.on('error', () => resolve(undefined));
  });
}

export function publicLane(deps: LaneDeps, app: Handler): Handler {
  const issuerUrl = new URL(deps.issuer);
  const limit = Math.min(56 * 1024, deps.config.bodyLimitBytes);
  const stream = { bus: deps.bus, waits: deps.waits, ...deps.config.realtime };
  const info = deps.config.logLevel === 'debug' || deps.config.logLevel === 'info';

  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    const path = canonicalPath(rawPath);
    const length = Number(req.headers['content-length']);
    const token =
      path === '/token' &&
      req.method === 'POST' &&
      /^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '') &&
      Number.isInteger(length) &&
      length <= limit;
    const statusStream = req.method === 'GET' && path.startsWith('/device/status/') && /text\/event-stream/.test(req.headers.accept ?? '');
    if (!token && !statusStream) return app(req, res);
    try {
      fromIssuer(issuerUrl, req.headers);
    } catch {
      return app(req, res); // the app answers a malformed Host with its 400
    }
    const requestId = newRequestId(req.headers['x-request-id']);
    req.headers['x-request-id'] = requestId;
    if (issuerUrl.protocol === 'https:') (req.socket as { encrypted?: boolean }).encrypted = true;
    const ip = clientIp(req, deps.config);
    const started = performance.now();
    const counted = (route: string) => {
      const seconds = (performance.now() - started) / 1000;
      deps.metrics.recordRequest(route, req.method ?? 'GET', res.statusCode, seconds);
      if (!info) return;
      const line = { method: req.method, route, status: res.statusCode, ms: Math.round(seconds * 10000) / 10 };
      requestContext.run({ requestId }, () => deps.log.info('request', line));
    };
    const failed = (err: unknown) => {
      deps.log.error('request failed', { method: req.method, route: path, err });
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(JSON.stringify({ error: 'server_error', error_description: 'internal error' }));
      } else res.destroy();
    };

    if (statusStream) {
      // The handle is case-sensitive: it is read from the path as sent, not its canonical (lower-case) form.
      const key = keyOfHandle(deps.secrets(), rawPath.slice('/device/status/'.length));
      if (!key) return app(req, res);
      void statusView(deps.store, key).then((first) => {
        if (!first) return app(req, res);
        // An event stream is no page: of the security headers it needs only nosniff.
        const headers = { 'X-Content-Type-Options': 'nosniff', 'X-Request-Id': requestId };
        openEventStream({ res, ip, headers }, stream, key, () => statusView(deps.store, key));
        counted('/device/status/:handle');
      }, failed);
      return;
    }
    void readBody(req, length)
      .then(async (raw) => {
        if (!raw) {
          res.writeHead(400, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
          res.end(JSON.stringify({ error: 'invalid_request', error_description: 'request size did not match content length' }));
          return;
        }
        const headers = { ...SECURITY_HEADERS, 'X-Request-Id': requestId };
        const handled = await devicePoll(deps, { req, res, ip, headers }, raw, (decided) => {
          keepBody(req, raw, decided);
          app(req, res);
        });
        if (handled === 'answered') counted('/token');
      })
      .catch(failed);
  };
}
