import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import type { WaitRegistry } from '../events/waits.js';
import { bodyIs, protocolForm, restoreBody } from '../http/body.js';
import { openEventStream } from '../http/event-stream.js';
import { type Arrival, arrivalOf, refuse } from '../http/front-door.js';
import { parkRequest } from '../http/parked.js';
import { SECURITY_HEADERS } from '../http/security-headers.js';
import { type Logger, requestContext } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Store } from '../store/index.js';
import { keyOfHandle, statusView } from './status.js';
import { devicePoll, type LaneOut } from './token.js';

/**
 * The public lane: the two requests a waiting device sends, over and over or for minutes, are served here straight
 * from the HTTP server, before Koa builds a context for them:
 *
 * - `POST /token` with a form body (any framing): device-grant polls and held requests (token.ts); anything else,
 *   and every decided code, goes on to the app, whose readers get the body the lane read (http/body.ts);
 * - `GET /device/status/<handle>` asking for `text/event-stream`: the waiting screen's stream (status.ts).
 *
 * The lane is behind the same front door as the app (http/front-door.ts: Host, request id, client address, path,
 * declared length, methods) and reads what it decided. It writes no error of its own: a request it cannot read, or
 * that fails, goes to the app with its error, and the app's one error handler answers it. It is counted in the
 * metrics and logs as the app counts its own requests.
 */
export interface LaneDeps {
  config: Config;
  store: Store;
  bus: EventBus;
  waits: WaitRegistry;
  metrics: Metrics;
  log: Logger;
  secrets: () => string[];
  corsAllowed: (origin: string, redirectUris: string[]) => boolean;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export function publicLane(deps: LaneDeps, door: (req: IncomingMessage) => Arrival, app: Handler): Handler {
  const stream = { waits: deps.waits, ...deps.config.realtime };
  const info = deps.config.logLevel === 'debug' || deps.config.logLevel === 'info';
  const readStatus = (key: string) => statusView(deps.store, key);

  // What every request of the lane answers with: one set of functions, shared (a held request keeps none of its own).
  const out: LaneOut = {
    app(req, res) {
      restoreBody(req);
      app(req, res);
    },
    // Anything that goes wrong before an answer is written is answered by the app's error handler.
    fail(req, res, err) {
      if (res.headersSent) {
        deps.log.error('request failed', { method: req.method, route: arrivalOf(req)?.path, err });
        res.destroy();
        return;
      }
      refuse(req, err);
      out.app(req, res);
    },
    count(req, res, route, started, requestId) {
      const seconds = (performance.now() - started) / 1000;
      deps.metrics.recordRequest(route, req.method ?? 'GET', res.statusCode, seconds);
      if (!info) return;
      const line = { method: req.method, route, status: res.statusCode, ms: Math.round(seconds * 10000) / 10 };
      requestContext.run({ requestId }, () => deps.log.info('request', line));
    },
    headers: (requestId) => ({ ...SECURITY_HEADERS, 'X-Request-Id': requestId }),
  };

  return (req, res) => {
    const arrival = door(req);
    if (arrival.refused) return app(req, res);
    const { path, ip, requestId } = arrival;
    const token = path === '/token' && req.method === 'POST' && bodyIs(req, 'application/x-www-form-urlencoded');
    const statusStream = req.method === 'GET' && path.startsWith('/device/status/') && /text\/event-stream/.test(req.headers.accept ?? '');
    if (!token && !statusStream) return app(req, res);
    const started = performance.now();

    if (statusStream) {
      // The handle is case-sensitive: it is read from the path as sent, not its canonical (lower-case) form.
      const key = keyOfHandle(deps.secrets(), arrival.rawPath.slice('/device/status/'.length));
      if (!key) return app(req, res);
      void statusView(deps.store, key).then(
        (first) => {
          if (!first) return app(req, res);
          // An event stream is no page: of the security headers it needs only nosniff.
          const headers = { 'X-Content-Type-Options': 'nosniff', 'X-Request-Id': requestId };
          openEventStream({ res, ip, headers }, stream, key, readStatus, first);
          out.count(req, res, '/device/status/:handle', started, requestId);
          parkRequest(req);
        },
        (err: unknown) => out.fail(req, res, err),
      );
      return;
    }
    // The body is read once here; the app gets it back only if the request goes on to it (out.app).
    void protocolForm(req, deps.config.bodyLimitBytes, { restore: false })
      .then(async (form) => {
        const handled = await devicePoll(deps, { req, res, ip, headers: out.headers(requestId) }, form ?? {}, out, started);
        if (handled === 'answered') out.count(req, res, '/token', started, requestId);
      })
      .catch((err: unknown) => out.fail(req, res, err));
  };
}
