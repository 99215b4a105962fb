import type { Context, Middleware } from 'koa';
import { errors } from 'oidc-provider';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import { type WaitRegistry, waitUntil } from '../events/waits.js';
import { addressKey } from '../http/address.js';
import { clientIdOf, readProtocolForm } from '../http/body.js';
import { TooManyRequests } from '../http/errors.js';
import { take } from '../http/limits.js';
import { isHandle, keyFor } from '../oidc/adapter.js';
import { type Issue, replayBody } from '../oidc/seams.js';
import { clientSecretMatches } from '../store/hash.js';
import type { Store } from '../store/index.js';
import { handoffState, isFinal, poll, redeemed } from './flow.js';
import { preferredWait } from './prefer.js';

/**
 * `POST /token` with the device grant (RFC 8628 3.4, 3.5): polls are answered here, before oidc-provider runs.
 *
 * A poll is one statement (flow.ts `poll`): it paces and reads the code. While the code is pending the answer is
 * `authorization_pending` or `slow_down` from here, and a held request (`Prefer: wait=N`, RFC 7240) waits here,
 * holding only its socket and a subscription, until the phone decides, the code expires, N seconds pass, the client
 * hangs up or the instance shuts down. Once the code is decided the request goes on to oidc-provider, which issues
 * the tokens (or `access_denied`) exactly as it always does. Anything this path does not fully understand (another
 * client authentication method, DPoP, a duplicated parameter, an unknown client) goes to oidc-provider untouched.
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

/** The client's answer, shaped exactly as oidc-provider shapes its own (status, body, headers). */
function answer(ctx: Context, status: number, err: { error: string; error_description?: string }, origin: string | undefined): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Access-Control-Allow-Origin', origin ?? '*');
  ctx.set('Access-Control-Expose-Headers', 'WWW-Authenticate');
  ctx.vary('Origin');
  ctx.type = 'application/json';
  ctx.body = { error: err.error, error_description: err.error_description };
}

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

export function deviceToken(deps: DeviceTokenDeps): Middleware {
  const { config, store } = deps;
  const interval = config.device.pollInterval;
  return async (ctx, next) => {
    if (ctx.method !== 'POST') return next();
    const raw = await readProtocolForm(ctx);
    if (!raw) return next();
    const handOn = () => {
      replayBody(ctx, raw);
      return next();
    };
    const form = new URLSearchParams(raw.toString('utf8'));
    if (form.get('grant_type') !== DEVICE_GRANT) return handOn();
    const keys = [...form.keys()];
    if (new Set(keys).size !== keys.length || ctx.get('dpop') || form.has('client_assertion')) return handOn();
    const deviceCode = form.get('device_code') ?? '';
    const origin = ctx.get('origin') || undefined;
    // A handle (`~<hash>`) addresses a row by its hash: never a credential at the token endpoint.
    if (isHandle(deviceCode)) return answer(ctx, 400, INVALID_GRANT, origin);
    const authorization = ctx.get('authorization');
    const clientId = clientIdOf(form, authorization);
    const meta = clientId ? await store.clients.find(clientId) : undefined;
    if (!clientId || !deviceCode || !authenticated(meta, form, authorization)) return handOn();
    if (origin) {
      const uris = Array.isArray(meta?.redirect_uris) ? meta.redirect_uris.filter((u): u is string => typeof u === 'string') : [];
      if (!deps.corsAllowed(origin, uris)) return handOn();
    }

    const key = keyFor(deviceCode, 'DeviceCode');
    const outcome = await poll(store, key, clientId, interval);
    switch (outcome.kind) {
      case 'unknown':
        try {
          await take(store, [unknownCodeLimit(config, ctx.ip)]);
        } catch (err) {
          if (!(err instanceof TooManyRequests)) throw err;
          ctx.set('Retry-After', String(err.retryAfter));
          return answer(ctx, 429, { error: 'slow_down', error_description: err.message }, origin);
        }
        return answer(ctx, 400, INVALID_GRANT, origin);
      case 'other-client':
      case 'lost-race':
        return answer(ctx, 400, INVALID_GRANT, origin);
      case 'slow-down':
        return answer(ctx, 400, SLOW_DOWN, origin);
      case 'expired':
        return answer(ctx, 400, EXPIRED, origin);
      case 'decided':
      case 'replay':
        return handOn();
      case 'pending': {
        const wait = preferredWait(ctx.get('prefer'), config.realtime.maxWaitSeconds);
        if (wait === undefined) return answer(ctx, 400, PENDING, origin);
        const held = await hold(ctx, deps, key, wait, outcome.exp);
        if (held === 'gone') return undefined;
        if (held === 'full') {
          ctx.set('Retry-After', '5');
          return answer(
            ctx,
            503,
            { error: 'temporarily_unavailable', error_description: 'too many waiting requests; poll instead' },
            origin,
          );
        }
        if (held === 'busy') {
          ctx.set('Retry-After', String(interval));
          return answer(
            ctx,
            429,
            { error: 'slow_down', error_description: 'too many waiting requests from this address or for this code; poll instead' },
            origin,
          );
        }
        ctx.set('Preference-Applied', `wait=${wait}`);
        if (held === 'decided') return handOn();
        return answer(ctx, 400, held === 'expired' ? EXPIRED : PENDING, origin);
      }
    }
  };
}

/** What a hold ended with. */
type Held = 'decided' | 'pending' | 'expired' | 'gone' | 'full' | 'busy';

/**
 * hold: waits for the phone (RFC 7240 `Prefer: wait=N`). `full` when the instance holds its maximum of waits,
 * `busy` when this address or this code already holds its share; `gone` when the client hung up.
 */
async function hold(ctx: Context, deps: DeviceTokenDeps, key: string, seconds: number, exp: number): Promise<Held> {
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
    const outcome = await poll(store, key, clientId, config.device.pollInterval);
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
