import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ParsedUrlQuery } from 'node:querystring';
import type { Context } from 'koa';
import { errors } from 'oidc-provider';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import { CheckedWait, type WaitRegistry } from '../events/waits.js';
import { addressKey } from '../http/address.js';
import { clientIdOf, field, hasField } from '../http/body.js';
import { parkRequest, unparkRequest } from '../http/parked.js';
import { TooManyRequests } from '../http/errors.js';
import { take } from '../http/limits.js';
import { isHandle, keyFor } from '../oidc/adapter.js';
import { handDecided } from '../oidc/handed-rows.js';
import type { Issue } from '../oidc/seams.js';
import { clientSecretMatches } from '../store/hash.js';
import type { Store } from '../store/index.js';
import { type HandoffState, handoffState, isFinal, poll } from './flow.js';
import {
  answer,
  type DecidedInLane,
  EXPIRED,
  type Exchange,
  type Handled,
  header,
  INVALID_GRANT,
  keepDecided,
  PENDING,
  SLOW_DOWN,
  takeDecided,
  type Verdict,
} from './answer.js';
import { preferredWait } from './prefer.js';

/**
 * `POST /token` with the device grant (RFC 8628 3.4, 3.5). Every presentation of a device code is decided by one
 * function, {@link decidePoll}, wherever it arrives:
 *
 * - in the public lane (device/lane.ts), straight from the HTTP server, for a client that authenticates as it is
 *   registered to with `none` or a client secret: pending codes are answered (or held) there and never reach Koa;
 * - in the device grant inside oidc-provider ({@link deviceGrant}), for everything the lane hands on (a decided code,
 *   another client authentication method, DPoP, a duplicated parameter, an unknown client), after the library
 *   authenticated the client.
 *
 * A held request (`Prefer: wait=N`, RFC 7240) holds only its socket and one small object ({@link HeldPoll}). Once the
 * code is decided oidc-provider issues the tokens (or `access_denied`) exactly as it always does.
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

type Metadata = Record<string, unknown>;

/** The client, when it authenticated here the way it is registered to (public, or a secret, basic or post). */
function authenticated(meta: Metadata | undefined, form: ParsedUrlQuery, authorization: string): boolean {
  if (!meta) return false;
  if (!(Array.isArray(meta.grant_types) && meta.grant_types.includes(DEVICE_GRANT))) return false;
  if (meta.dpop_bound_access_tokens === true || meta.tls_client_certificate_bound_access_tokens === true) return false;
  const method = typeof meta.token_endpoint_auth_method === 'string' ? meta.token_endpoint_auth_method : 'client_secret_basic';
  const stored = typeof meta.client_secret === 'string' ? meta.client_secret : '';
  if (method === 'none') return !authorization && !hasField(form, 'client_secret');
  if (method === 'client_secret_post') return !authorization && clientSecretMatches(stored, field(form, 'client_secret') ?? '');
  if (method === 'client_secret_basic') {
    const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(authorization);
    if (!m || hasField(form, 'client_secret')) return false;
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

/** One presentation of a device code, as {@link decidePoll} needs it. */
export interface Presentation {
  key: string;
  clientId: string;
  ip: string;
  /** The `Prefer` header. */
  prefer: string;
}

/** A pending code whose client asked to be held (`Prefer: wait=N`): for how long, and when the code expires. */
export interface Hold {
  kind: 'hold';
  seconds: number;
  /** The code's expiry (seconds since the epoch). */
  exp: number;
}

/**
 * The device grant's answer to one presentation of a code (RFC 8628 3.5), for the lane and the grant alike. A poll is
 * one statement (flow.ts `poll`) that paces and reads the code; a pending code is answered `authorization_pending`,
 * or held ({@link Hold}: the caller parks it, see {@link HeldPoll}) until the phone decides, the code expires, N
 * seconds pass, the client hangs up or the instance shuts down; a decided code goes to oidc-provider, which issues the
 * tokens (or `access_denied`).
 */
export async function decidePoll(deps: DeviceTokenDeps, p: Presentation): Promise<Verdict | Hold> {
  const { config, store } = deps;
  const outcome = await poll(store, p.key, p.clientId, config.device.pollInterval);
  switch (outcome.kind) {
    case 'unknown':
      try {
        await take(store, [unknownCodeLimit(config, p.ip)]);
      } catch (err) {
        if (!(err instanceof TooManyRequests)) throw err;
        return { kind: 'refuse', status: 429, error: 'slow_down', description: err.message, headers: err.headers };
      }
      return INVALID_GRANT;
    case 'other-client':
    case 'lost-race':
      return INVALID_GRANT;
    case 'slow-down':
      return SLOW_DOWN;
    case 'expired':
      return EXPIRED;
    case 'decided':
    case 'replay':
      return { kind: 'issue', replay: outcome.kind === 'replay', headers: {}, rows: outcome.rows };
    case 'pending': {
      const seconds = preferredWait(p.prefer, config.realtime.maxWaitSeconds);
      return seconds === undefined ? PENDING : { kind: 'hold', seconds, exp: outcome.exp };
    }
  }
}

/** What a hold ended with. */
type Held = 'decided' | 'pending' | 'expired' | 'gone' | 'full' | 'busy';

/** The answer to a held presentation, by how its hold ended. */
function afterHold(held: Held, seconds: number, interval: number): Verdict {
  if (held === 'gone') return { kind: 'gone' };
  if (held === 'full') {
    const description = 'too many waiting requests; poll instead';
    return { kind: 'refuse', status: 503, error: 'temporarily_unavailable', description, headers: { 'Retry-After': '5' } };
  }
  if (held === 'busy') {
    const description = 'too many waiting requests from this address or for this code; poll instead';
    return { kind: 'refuse', status: 429, error: 'slow_down', description, headers: { 'Retry-After': String(interval) } };
  }
  const applied = { 'Preference-Applied': `wait=${seconds}` };
  if (held === 'decided') return { kind: 'issue', replay: false, headers: applied };
  return { ...(held === 'expired' ? EXPIRED : PENDING), headers: applied };
}

/**
 * A held presentation (RFC 7240 `Prefer: wait=N`): waits for the phone, re-reading the code's state on every event
 * for it, until it is decided, the code expires, N seconds pass, the client hangs up or the instance shuts down, and
 * then calls {@link finished} with the answer (or {@link failed}). While it waits it is this one object: no promise or
 * closure stays behind for it (events/waits.ts).
 *
 * A hold that lasted at least the poll interval (or the longest hold allowed, when that is shorter) stands for the
 * client's pause between polls, so the poll after it is never told `slow_down`; a shorter one (`Prefer: wait=1`)
 * leaves pacing as it was, or a client could poll at any rate by asking to be held for a moment each time.
 */
abstract class HeldPoll extends CheckedWait {
  /** The code's state as last read (a code that is gone reads as expired); undefined before the first read. */
  #state: HandoffState | undefined;
  readonly #deps: Pick<DeviceTokenDeps, 'store' | 'config'>;
  readonly #started: number;
  readonly #seconds: number;

  constructor(deps: Pick<DeviceTokenDeps, 'store' | 'config' | 'waits'>, key: string, ip: string, hold: Hold) {
    const started = Date.now();
    super(deps.waits, key, addressKey(ip), Math.min(started + hold.seconds * 1000, hold.exp * 1000));
    this.#deps = deps;
    this.#started = started;
    this.#seconds = hold.seconds;
  }

  /** Parks the presentation; a refusal (a cap is full) is answered at once. */
  park(): void {
    const refused = this.start();
    if (refused) this.finished(afterHold(refused === 'instance' ? 'full' : 'busy', this.#seconds, this.#deps.config.device.pollInterval));
  }

  protected async check(): Promise<boolean> {
    this.#state = (await handoffState(this.#deps.store, this.key))?.state ?? 'expired';
    return isFinal(this.#state);
  }

  protected end(outcome: 'done' | 'gone', error?: unknown): void {
    if (error !== undefined) this.failed(error);
    else if (outcome === 'gone') this.finished({ kind: 'gone' });
    else
      this.#settle().then(
        (v) => this.finished(v),
        (err: unknown) => this.failed(err),
      );
  }

  async #settle(): Promise<Verdict> {
    const { config, store } = this.#deps;
    const pause = Math.min(config.device.pollInterval, config.realtime.maxWaitSeconds) * 1000;
    if (Date.now() - this.#started >= pause) await store.deviceCodes.resetPoll(this.key);
    const state = this.#state;
    const held = state === 'approved' || state === 'denied' ? 'decided' : state === 'expired' ? 'expired' : 'pending';
    return afterHold(held, this.#seconds, config.device.pollInterval);
  }

  protected abstract finished(v: Verdict): void;
  protected abstract failed(err: unknown): void;
}

/** A held presentation as a promise (the grant inside oidc-provider: the less travelled path). */
class PromisedHold extends HeldPoll {
  resolve: (v: Verdict) => void = () => {};
  reject: (err: unknown) => void = () => {};
  protected finished(v: Verdict): void {
    this.resolve(v);
  }
  protected failed(err: unknown): void {
    this.reject(err);
  }
}

const HELD = Symbol('held presentation');
type Holding = ServerResponse & { [HELD]?: HeldPoll };
/** One listener for every held response: the client hung up. (`on`, not `once`: `once` wraps it in a closure per response.) */
function hungUp(this: Holding): void {
  this[HELD]?.gone();
}

function holdUntilDecided(deps: DeviceTokenDeps, p: Presentation, hold: Hold, res: ServerResponse): Promise<Verdict> {
  return new Promise((resolve, reject) => {
    const w = new PromisedHold(deps, p.key, p.ip, hold);
    w.resolve = resolve;
    w.reject = reject;
    (res as Holding)[HELD] = w;
    res.on('close', hungUp);
    w.park();
  });
}

/** What the public lane answers with, shared by every request it serves (device/lane.ts). */
export interface LaneOut {
  /** Hands the request on to the app (its body restored for the library's reader). */
  app(req: IncomingMessage, res: ServerResponse): void;
  /** Answers a request that failed before its answer was written (the app's error handler). */
  fail(req: IncomingMessage, res: ServerResponse, err: unknown): void;
  /** Counts an answered request in the metrics and the log. */
  count(req: IncomingMessage, res: ServerResponse, route: string, started: number, requestId: string): void;
  /** The headers every answer carries. */
  headers(requestId: string): Record<string, string>;
}

/** A presentation the public lane parked: it answers (or hands on) by itself when the hold ends. */
class LaneHold extends HeldPoll {
  readonly #res: ServerResponse;
  readonly #out: LaneOut;
  readonly #clientId: string;
  readonly #requestId: string;
  readonly #arrived: number;

  constructor(deps: DeviceTokenDeps, x: Exchange, p: Presentation, hold: Hold, out: LaneOut, arrived: number) {
    super(deps, p.key, p.ip, hold);
    this.#res = x.res;
    this.#out = out;
    this.#clientId = p.clientId;
    this.#requestId = x.headers['X-Request-Id'] ?? '';
    this.#arrived = arrived;
  }

  protected finished(v: Verdict): void {
    const res = this.#res;
    const req = res.req;
    if (v.kind === 'gone') return;
    const x: Exchange = { req, res, ip: '', headers: this.#out.headers(this.#requestId) };
    if (v.kind === 'refuse') {
      answer(x, v);
      this.#out.count(req, res, '/token', this.#arrived, this.#requestId);
      return;
    }
    for (const [name, value] of Object.entries({ ...x.headers, ...v.headers })) res.setHeader(name, value);
    keepDecided(req, { key: this.key, clientId: this.#clientId, replay: v.replay });
    unparkRequest(req, this.#requestId);
    this.#out.app(req, res);
  }

  protected failed(err: unknown): void {
    unparkRequest(this.#res.req, this.#requestId);
    this.#out.fail(this.#res.req, this.#res, err);
  }
}

/**
 * A device-grant request in the public lane: answered here, held (parked: it answers by itself when the hold ends),
 * or handed on to the app and oidc-provider (the body the lane read is the one every later reader gets, http/body.ts).
 */
export async function devicePoll(
  deps: DeviceTokenDeps,
  x: Exchange,
  form: ParsedUrlQuery,
  out: LaneOut,
  arrived: number,
): Promise<Handled> {
  const on = (decided?: DecidedInLane) => {
    for (const [name, value] of Object.entries(x.headers)) x.res.setHeader(name, value);
    if (decided) keepDecided(x.req, decided);
    out.app(x.req, x.res);
    return 'handed-on' as const;
  };
  if (field(form, 'grant_type') !== DEVICE_GRANT) return on();
  if (Object.values(form).some(Array.isArray) || header(x, 'dpop') || hasField(form, 'client_assertion')) return on();
  const deviceCode = field(form, 'device_code') ?? '';
  // A handle (`~<hash>`) addresses a row by its hash: never a credential at the token endpoint.
  if (isHandle(deviceCode)) {
    answer(x, INVALID_GRANT);
    return 'answered';
  }
  const authorization = header(x, 'authorization');
  // Undefined when HTTP Basic and the form name two clients: oidc-provider refuses that (`client_id mismatch`).
  const clientId = clientIdOf(form, authorization);
  const meta = clientId ? await deps.store.clients.find(clientId) : undefined;
  if (!clientId || !deviceCode || !authenticated(meta, form, authorization)) return on();
  const origin = header(x, 'origin');
  if (origin) {
    const uris = Array.isArray(meta?.redirect_uris) ? meta.redirect_uris.filter((u): u is string => typeof u === 'string') : [];
    if (!deps.corsAllowed(origin, uris)) return on();
  }
  const key = keyFor(deviceCode, 'DeviceCode');
  const p = { key, clientId, ip: x.ip, prefer: header(x, 'prefer') };
  const verdict = await decidePoll(deps, p);
  if (verdict.kind === 'hold') {
    const w = new LaneHold(deps, x, p, verdict, out, arrived);
    (x.res as Holding)[HELD] = w;
    x.res.on('close', hungUp);
    parkRequest(x.req);
    w.park();
    return 'held';
  }
  if (verdict.kind === 'gone') return 'answered';
  if (verdict.kind === 'refuse') {
    answer(x, verdict);
    return 'answered';
  }
  for (const [name, value] of Object.entries(verdict.headers)) x.res.setHeader(name, value);
  return on({ key, clientId, replay: verdict.replay, rows: verdict.rows });
}

const unknownCodeLimit = (config: Config, ip: string) => ({
  bucket: 'device-code:unknown',
  key: addressKey(ip),
  windowSeconds: config.device.unknownDeviceCodeWindowSeconds,
  max: config.device.maxUnknownDeviceCodesPerIp,
  refusal: { description: 'too many unknown device codes from this address' },
});

/**
 * The device grant inside oidc-provider (registered with `registerGrantType`, oidc/seams.ts), for every request the
 * lane handed on: the client is authenticated by oidc-provider by then (any method, DPoP included). The lane's
 * verdict for this very request is taken, or {@link decidePoll} decides; `issue` is oidc-provider's own handler, which
 * issues the tokens (or `access_denied`, or revokes on a replay).
 */
export function deviceGrant(deps: DeviceTokenDeps) {
  return async (ctx: Context & { oidc: { params?: Record<string, unknown>; client?: { clientId: string } } }, issue: Issue) => {
    const deviceCode = typeof ctx.oidc.params?.device_code === 'string' ? ctx.oidc.params.device_code : '';
    const clientId = ctx.oidc.client?.clientId ?? '';
    if (!deviceCode || isHandle(deviceCode)) throw new errors.InvalidGrant('device code not found');
    const key = keyFor(deviceCode, 'DeviceCode');
    const lane = takeDecided(ctx.req);
    const p = { key, clientId, ip: ctx.ip, prefer: ctx.get('prefer') };
    let verdict: Verdict | Hold =
      lane?.key === key && lane.clientId === clientId
        ? { kind: 'issue', replay: lane.replay, headers: {}, rows: lane.rows }
        : await decidePoll(deps, p);
    if (verdict.kind === 'hold') verdict = await holdUntilDecided(deps, p, verdict, ctx.res);
    if (verdict.kind === 'gone') throw new errors.AuthorizationPending();
    ctx.set(verdict.headers);
    if (verdict.kind === 'refuse') {
      const err = new errors.CustomOIDCProviderError(verdict.error, verdict.description);
      throw Object.assign(err, { status: verdict.status, statusCode: verdict.status, expose: true });
    }
    // The poll's read of the code, its grant and account are the library's: it loads them next (oidc/handed-rows.ts).
    if (verdict.rows) handDecided(ctx.req, key, verdict.rows);
    await issue({ replay: verdict.replay });
    // Tokens answered: from now on (after one poll interval) a presentation of this code is a replay.
    await deps.store.deviceCodes.markAnswered(key);
  };
}
