import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, Middleware } from 'koa';
import { errors } from 'oidc-provider';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import { type WaitRegistry, waitUntil } from '../events/waits.js';
import { addressKey } from '../http/address.js';
import { clientIdOf } from '../http/body.js';
import { TooManyRequests } from '../http/errors.js';
import { take } from '../http/limits.js';
import { isHandle, keyFor } from '../oidc/adapter.js';
import { type Issue, replayBody } from '../oidc/seams.js';
import { clientSecretMatches } from '../store/hash.js';
import type { Store } from '../store/index.js';
import { handoffState, isFinal, type PollOutcome, poll, redeemed } from './flow.js';
import { preferredWait } from './prefer.js';

/**
 * `POST /token` with the device grant (RFC 8628 3.4, 3.5): polls are answered here, before Koa and oidc-provider
 * run (the public lane, device/lane.ts, hands them here straight from the HTTP server).
 *
 * A poll is one statement (flow.ts `poll`): it paces and reads the code. While the code is pending the answer is
 * `authorization_pending` or `slow_down` from here, and a held request (`Prefer: wait=N`, RFC 7240) waits here,
 * holding only its socket, one subscription and one timer, until the phone decides, the code expires, N seconds
 * pass, the client hangs up or the instance shuts down. Once the code is decided the request goes on to the app and
 * oidc-provider, which issues the tokens (or `access_denied`) exactly as it always does. Anything this path does not
 * fully understand (another client authentication method, DPoP, a duplicated parameter, an unknown client) goes to
 * oidc-provider untouched.
 */
export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export interface DeviceTokenDeps {
  config: Config;
  store: Store;
  bus: EventBus;
  waits: WaitRegistry;
  /** Whether a client may call the token endpoint from this browser origin (the provider's CORS rule). */
  corsAllowed: (origin: string, redirectUris: string[]) => boolean;
}

/** One HTTP exchange as the lane sees it: the raw request and response, and the client's address. */
export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  /** The client address (behind a trusted proxy: from X-Forwarded-For, as Koa computes it). */
  ip: string;
  /**
   * Headers every answer carries (security headers, the request id). They are written with the answer, not set
   * while a request is held: a held request then keeps no header table of its own while it waits.
   */
  headers: Record<string, string>;
}

const header = (x: Exchange, name: string): string => {
  const v = x.req.headers[name];
  return typeof v === 'string' ? v : '';
};

/** The client's answer, shaped exactly as oidc-provider shapes its own (status, body, headers). */
function answer(x: Exchange, status: number, err: { error: string; error_description?: string }, extra: Record<string, string> = {}): void {
  const origin = header(x, 'origin');
  const body = JSON.stringify({ error: err.error, error_description: err.error_description });
  x.res.writeHead(status, {
    ...x.headers,
    'Cache-Control': 'no-store',
    'Access-Control-Allow-Origin': origin || '*',
    'Access-Control-Expose-Headers': 'WWW-Authenticate',
    Vary: 'Origin',
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    ...extra,
  });
  x.res.end(body);
}

/** What the lane did with a request: answered it, or handed it on (to the app, with its body). */
export type Handled = 'answered' | 'handed-on';

const PENDING = new errors.AuthorizationPending();
const SLOW_DOWN = new errors.SlowDown();
const EXPIRED = new errors.ExpiredToken('device code is expired');
const INVALID_GRANT = new errors.InvalidGrant();

type Metadata = Record<string, unknown>;

/** The client, when it authenticated here the way it is registered to (public, or a secret, basic or post). */
function authenticated(meta: Metadata | undefined, form: URLSearchParams, authorization: string): boolean {
  if (!meta) return false;
  if (!(Array.isArray(meta.grant_types) && meta.grant_types.includes(DEVICE_GRANT))) return false;
  if (meta.dpop_bound_access_tokens === true || meta.tls_client_certificate_bound_access_tokens === true) return false;
  const method = typeof meta.token_endpoint_auth_method === 'string' ? meta.token_endpoint_auth_method : 'client_secret_basic';
  const stored = typeof meta.client_secret === 'string' ? meta.client_secret : '';
  if (method === 'none') return !authorization && !form.has('client_secret');
  if (method === 'client_secret_post') return !authorization && clientSecretMatches(stored, form.get('client_secret') ?? '');
  if (method === 'client_secret_basic') {
    const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(authorization);
    if (!m || form.has('client_secret')) return false;
    const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    try {
      const id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
      const secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
      return id === meta.client_id && clientSecretMatches(stored, secret);
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * A device-grant poll, answered from the database (one statement), held, or handed on to oidc-provider. `raw` is
 * the form body the lane read; `handOn` gives the request, with that body, to the app.
 */
export async function devicePoll(
  deps: DeviceTokenDeps,
  x: Exchange,
  raw: Buffer,
  handOn: (decided?: DecidedInLane) => void,
): Promise<Handled> {
  const { config, store } = deps;
  const interval = config.device.pollInterval;
  const form = new URLSearchParams(raw.toString('utf8'));
  const on = (decided?: DecidedInLane) => {
    for (const [name, value] of Object.entries(x.headers)) x.res.setHeader(name, value);
    handOn(decided);
    return 'handed-on' as const;
  };
  if (form.get('grant_type') !== DEVICE_GRANT) return on();
  const keys = [...form.keys()];
  if (new Set(keys).size !== keys.length || header(x, 'dpop') || form.has('client_assertion')) return on();
  const deviceCode = form.get('device_code') ?? '';
  // A handle (`~<hash>`) addresses a row by its hash: never a credential at the token endpoint.
  if (isHandle(deviceCode)) {
    answer(x, 400, INVALID_GRANT);
    return 'answered';
  }
  const authorization = header(x, 'authorization');
  const clientId = clientIdOf(form, authorization);
  const meta = clientId ? await store.clients.find(clientId) : undefined;
  if (!clientId || !deviceCode || !authenticated(meta, form, authorization)) return on();
  const origin = header(x, 'origin');
  if (origin) {
    const uris = Array.isArray(meta?.redirect_uris) ? meta.redirect_uris.filter((u): u is string => typeof u === 'string') : [];
    if (!deps.corsAllowed(origin, uris)) return on();
  }

  const key = keyFor(deviceCode, 'DeviceCode');
  const outcome = await poll(store, key, clientId, interval);
  switch (outcome.kind) {
    case 'unknown':
      try {
        await take(store, [unknownCodeLimit(config, x.ip)]);
      } catch (err) {
        if (!(err instanceof TooManyRequests)) throw err;
        answer(x, 429, { error: 'slow_down', error_description: err.message }, { 'Retry-After': String(err.retryAfter) });
        return 'answered';
      }
      answer(x, 400, INVALID_GRANT);
      return 'answered';
    case 'other-client':
    case 'lost-race':
      answer(x, 400, INVALID_GRANT);
      return 'answered';
    case 'slow-down':
      answer(x, 400, SLOW_DOWN);
      return 'answered';
    case 'expired':
      answer(x, 400, EXPIRED);
      return 'answered';
    case 'decided':
    case 'replay':
      return on({ key, clientId, replay: outcome.kind === 'replay' });
    case 'pending': {
      const wait = preferredWait(header(x, 'prefer'), config.realtime.maxWaitSeconds);
      if (wait === undefined) {
        answer(x, 400, PENDING);
        return 'answered';
      }
      const held = await hold({ ip: x.ip, res: x.res }, deps, key, wait, outcome.exp);
      if (held === 'gone') return 'answered';
      if (held === 'full') {
        answer(
          x,
          503,
          { error: 'temporarily_unavailable', error_description: 'too many waiting requests; poll instead' },
          { 'Retry-After': '5' },
        );
        return 'answered';
      }
      if (held === 'busy') {
        const description = 'too many waiting requests from this address or for this code; poll instead';
        answer(x, 429, { error: 'slow_down', error_description: description }, { 'Retry-After': String(interval) });
        return 'answered';
      }
      x.res.setHeader('Preference-Applied', `wait=${wait}`);
      if (held === 'decided') return on({ key, clientId, replay: false });
      answer(x, 400, held === 'expired' ? EXPIRED : PENDING);
      return 'answered';
    }
  }
}

/**
 * A code the lane found decided (or replayed) in this very request, by its poll or at the end of a hold: the device
 * grant inside oidc-provider then issues without polling the row a second time. It is used only for the same code
 * and the same client; whoever redeems first still wins at the library's consume.
 */
export interface DecidedInLane {
  key: string;
  clientId: string;
  replay: boolean;
}

/** Bodies the lane read before handing a request on: given back to oidc-provider, which reads it again. */
const handedOn = new WeakMap<IncomingMessage, Buffer>();
const decidedInLane = new WeakMap<IncomingMessage, DecidedInLane>();

/** The lane read this request's body (and maybe its outcome); the app gives it back (see {@link bodyForProvider}). */
export function keepBody(req: IncomingMessage, raw: Buffer, decided?: DecidedInLane): void {
  handedOn.set(req, raw);
  if (decided) decidedInLane.set(req, decided);
}

/** In the app, before oidc-provider's token endpoint: the body the lane read, replayed. */
export function bodyForProvider(): Middleware {
  return (ctx, next) => {
    const raw = handedOn.get(ctx.req);
    if (raw) {
      handedOn.delete(ctx.req);
      replayBody(ctx, raw);
    }
    return next();
  };
}

/** What a hold ended with. */
type Held = 'decided' | 'pending' | 'expired' | 'gone' | 'full' | 'busy';

/**
 * hold: waits for the phone (RFC 7240 `Prefer: wait=N`). `full` when the instance holds its maximum of waits,
 * `busy` when this address or this code already holds its share; `gone` when the client hung up.
 */
async function hold(
  ctx: { ip: string; res: { once(e: 'close', fn: () => void): unknown } },
  deps: Pick<DeviceTokenDeps, 'bus' | 'waits' | 'store' | 'config'>,
  key: string,
  seconds: number,
  exp: number,
): Promise<Held> {
  const deadline = Math.min(Date.now() + seconds * 1000, exp * 1000);
  let final: Awaited<ReturnType<typeof handoffState>>;
  const outcome = await waitUntil(deps.bus, deps.waits, {
    key,
    address: addressKey(ctx.ip),
    deadline,
    check: async () => {
      final = await handoffState(deps.store, key);
      return !final || isFinal(final.state);
    },
    onGone: (fn) => ctx.res.once('close', fn),
  });
  if (outcome === 'instance') return 'full';
  if (outcome === 'address' || outcome === 'handoff') return 'busy';
  if (outcome === 'gone') return 'gone';
  // The next poll follows a held answer: it is never told slow_down.
  await deps.store.deviceCodes.resetPoll(key);
  const state = final?.state;
  if (state === 'approved' || state === 'denied') return 'decided';
  return state === 'expired' || !final ? 'expired' : 'pending';
}

const unknownCodeLimit = (config: Config, ip: string) => ({
  bucket: 'device-code:unknown',
  key: addressKey(ip),
  windowSeconds: config.device.unknownDeviceCodeWindowSeconds,
  max: config.device.maxUnknownDeviceCodesPerIp,
  refusal: { description: 'too many unknown device codes from this address' },
});

/** A refusal as oidc-provider renders errors: its `slow_down` error with status 429 and `Retry-After`. */
function rateLimited(ctx: { set(k: string, v: string): void }, description: string, retryAfter: number): errors.OIDCProviderError {
  ctx.set('Retry-After', String(retryAfter));
  const err = new errors.CustomOIDCProviderError('slow_down', description);
  return Object.assign(err, { status: 429, statusCode: 429, expose: true });
}

/**
 * The device grant inside oidc-provider (registered with `registerGrantType`, oidc/seams.ts), for every request
 * the path before the provider handed on: the client is authenticated by oidc-provider by then (any method, DPoP
 * included). The same flow decides; `issue` is oidc-provider's own handler, which issues the tokens (or
 * `access_denied`, or revokes on a replay).
 */
export function deviceGrant(deps: DeviceTokenDeps) {
  const { config, store } = deps;
  return async (ctx: Context & { oidc: { params?: Record<string, unknown>; client?: { clientId: string } } }, issue: Issue) => {
    const deviceCode = typeof ctx.oidc.params?.device_code === 'string' ? ctx.oidc.params.device_code : '';
    const clientId = ctx.oidc.client?.clientId ?? '';
    if (!deviceCode || isHandle(deviceCode)) throw new errors.InvalidGrant('device code not found');
    const key = keyFor(deviceCode, 'DeviceCode');
    const lane = decidedInLane.get(ctx.req);
    decidedInLane.delete(ctx.req);
    const outcome: PollOutcome =
      lane?.key === key && lane.clientId === clientId
        ? { kind: lane.replay ? 'replay' : 'decided' }
        : await poll(store, key, clientId, config.device.pollInterval);
    switch (outcome.kind) {
      case 'unknown':
        try {
          await take(store, [unknownCodeLimit(config, ctx.ip)]);
        } catch (err) {
          if (err instanceof TooManyRequests) throw rateLimited(ctx, err.message, err.retryAfter);
          throw err;
        }
        throw new errors.InvalidGrant('device code not found');
      case 'other-client':
      case 'lost-race':
        throw new errors.InvalidGrant('device code not valid here');
      case 'slow-down':
        throw new errors.SlowDown();
      case 'expired':
        throw new errors.ExpiredToken('device code is expired');
      case 'pending': {
        const wait = preferredWait(ctx.get('prefer'), config.realtime.maxWaitSeconds);
        if (wait === undefined) throw new errors.AuthorizationPending();
        const held = await hold(ctx, deps, key, wait, outcome.exp);
        if (held === 'full') {
          ctx.set('Retry-After', '5');
          const err = new errors.CustomOIDCProviderError('temporarily_unavailable', 'too many waiting requests; poll instead');
          throw Object.assign(err, { status: 503, statusCode: 503, expose: true });
        }
        if (held === 'busy')
          throw rateLimited(ctx, 'too many waiting requests from this address or for this code; poll instead', config.device.pollInterval);
        ctx.set('Preference-Applied', `wait=${wait}`);
        if (held === 'expired') throw new errors.ExpiredToken('device code is expired');
        if (held !== 'decided') throw new errors.AuthorizationPending();
        break;
      }
      case 'decided':
      case 'replay':
        break;
    }
    await issue({ replay: outcome.kind === 'replay' });
    // Tokens answered: from now on (after one poll interval) a presentation of this code is a replay.
    await redeemed(store, key);
  };
}
