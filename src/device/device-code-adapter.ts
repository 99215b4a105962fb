import Provider, { type AdapterPayload, errors } from 'oidc-provider';
import { recordApproval } from '../accounts/devices.js';
import type { EventBus } from '../events/bus.js';
import { addressKey } from '../http/address.js';
import { audit } from '../ops/audit.js';
import type { Db } from '../storage/db.js';
import { sha256 } from '../storage/hash.js';
import { hydrate, keyFor, type Row, StoreAdapter } from '../storage/oidc-adapter.js';
import { isFinal, markScanned, readHandoff } from './handoff-state.js';
import { checkMintLimits, countUnknownDeviceCode, type DeviceSettings, RateLimited, type UserCodeGuard } from './limits.js';
import { preferredWait } from './prefer.js';
import { newStatusHandle } from './status-stream.js';
import { type WaitRegistry, waitUntil } from '../events/waits.js';

/**
 * Device codes: the generic store plus RFC 8628's pacing and abuse rules, applied where oidc-provider reads and
 * writes device codes (it exposes the request through `Provider.ctx`).
 *
 * Polling (3.5): one statement reads the code *and* decides `slow_down`. A poll is accepted when it is the first,
 * when at least `interval` seconds (less half a second of network jitter) passed since the last accepted one, or
 * when the code is already decided (approved codes are released whatever the interval). An accepted poll moves
 * `last_polled_at`; a refused one leaves it and adds 5 seconds to this code's interval.
 */
const POLL_OK = `(payload->>'accountId' IS NOT NULL OR payload->>'error' IS NOT NULL OR consumed_at IS NOT NULL
  OR last_polled_at IS NULL OR last_polled_at <= now() - make_interval(secs => COALESCE(poll_interval, ?) - 0.5))`;
const POLL_SQL = `UPDATE oidc_store SET
    last_polled_at = CASE WHEN ${POLL_OK} THEN now() ELSE last_polled_at END,
    poll_interval = CASE WHEN ${POLL_OK} THEN poll_interval ELSE COALESCE(poll_interval, ?) + 5 END
  WHERE model = 'DeviceCode' AND key_hash = ?
  RETURNING payload, consumed_at, last_polled_at = now() AS accepted,
    (answered_at IS NOT NULL AND answered_at < now() - make_interval(secs => COALESCE(poll_interval, ?))) AS replay`;

/**
 * A consumed code is answered in one of two ways.
 *
 * - Presented again once its tokens were answered and at least one poll interval has passed, it is a replay:
 *   oidc-provider revokes everything it issued (RFC 6749 4.1.2, RFC 8628 5.2 by reference). A device that follows
 *   RFC 8628 never polls again sooner than its interval, nor at all after its tokens.
 * - Presented while the winner is still issuing, or within that interval of its answer, it is one of many
 *   redemptions racing (a retried request, a second tab, a held request and a poll at the moment of approval):
 *   it gets `invalid_grant` and must not revoke the winner's tokens. The server cannot tell when a request was
 *   *sent*, only when it got to it, so the interval is the margin. The code is handed over as not yet consumed, and
 *   its single-use UPDATE refuses it.
 */
export async function markAnswered(db: Db, deviceCode: string): Promise<void> {
  await db.raw(`UPDATE oidc_store SET answered_at = clock_timestamp() WHERE model = 'DeviceCode' AND key_hash = ?`, [keyFor(deviceCode)]);
}

/** What held requests need: the bus that announces changes, the registry that caps waits, and the cap on N. */
export interface RealtimeDeps {
  bus: EventBus;
  waits: WaitRegistry;
  maxWaitSeconds: number;
  /** Counts decided handoffs (metrics). */
  onOutcome?: (kind: 'device' | 'desktop', outcome: 'approved' | 'denied' | 'revoked') => void;
}

export class DeviceCodeAdapter extends StoreAdapter {
  readonly #settings: DeviceSettings;
  readonly #guard: UserCodeGuard;
  readonly #rt: RealtimeDeps;

  constructor(db: Db, settings: DeviceSettings, guard: UserCodeGuard, realtime: RealtimeDeps) {
    super(db, 'DeviceCode');
    this.#settings = settings;
    this.#guard = guard;
    this.#rt = realtime;
  }

  override async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const ctx = Provider.ctx;
    if (ctx?.oidc?.route === 'device_authorization') {
      await withRetryAfter(ctx, checkMintLimits(this.db, this.#settings, ctx.ip, ctx.oidc.client?.clientId ?? ''));
    }
    await super.upsert(id, payload, expiresIn);
    if (payload.accountId && payload.grantId && !payload.error) await this.#recordApproval(id, payload, ctx?.ip);
    if (payload.error === 'access_denied') await this.#record('device.denied', payload, ctx?.ip);
    // approved or denied: wake whoever waits (after the write, outside any transaction)
    if (payload.accountId || payload.error) await this.#rt.bus.publish(keyFor(id));
  }

  /**
   * A new device code gets its status_uri handle in the same INSERT (no second statement); the handle itself goes
   * to the response through the request's state (device/routes.ts adds `status_uri`).
   */
  protected override statusHashFor(payload: AdapterPayload): string | null {
    const ctx = Provider.ctx;
    if (ctx?.oidc?.route !== 'device_authorization' || payload.accountId || payload.error) return null;
    const handle = newStatusHandle();
    ctx.state.statusHandle = handle;
    return sha256(handle);
  }

  override async find(id: string): Promise<AdapterPayload | undefined> {
    const ctx = Provider.ctx;
    if (ctx?.oidc?.route !== 'token') return super.find(id);
    const interval = this.#settings.pollInterval;
    const result = await this.db.raw<{ rows: Array<Row & { accepted: boolean; replay: boolean }> }>(POLL_SQL, [
      interval,
      interval,
      interval,
      keyFor(id),
      interval,
    ]);
    const row = result.rows[0];
    if (!row) {
      await withRetryAfter(ctx, countUnknownDeviceCode(this.db, this.#settings, ctx.ip));
      return undefined;
    }
    if (row.consumed_at !== null && !row.replay) return hydrate({ ...row, consumed_at: null }, id);
    const pending = !row.payload.accountId && !row.payload.error && row.consumed_at === null;
    const sameClient = row.payload.clientId === ctx.oidc.client?.clientId;
    const expired = typeof row.payload.exp === 'number' && row.payload.exp * 1000 <= Date.now();
    if (!row.accepted && pending && sameClient && !expired) {
      throw new errors.SlowDown();
    }
    const wait = preferredWait(ctx.get('prefer'), this.#rt.maxWaitSeconds);
    if (wait === undefined || !pending || !sameClient || expired) return hydrate(row, id);
    return this.#hold(ctx, id, wait, row.payload.exp as number);
  }

  /**
   * A held token request (RFC 7240 `Prefer: wait=N`): answered as soon as the phone decides, the code expires,
   * N seconds pass or the instance shuts down; then oidc-provider gives its usual answer from the fresh row.
   */
  async #hold(
    ctx: { set(k: string, v: string): void; ip: string; res: { once(e: 'close', fn: () => void): unknown } },
    id: string,
    seconds: number,
    exp: number,
  ): Promise<AdapterPayload | undefined> {
    const key = keyFor(id);
    const deadline = Math.min(Date.now() + seconds * 1000, exp * 1000);
    const outcome = await waitUntil(this.#rt.bus, this.#rt.waits, {
      key,
      address: addressKey(ctx.ip),
      deadline,
      check: async () => {
        const h = await readHandoff(this.db, { key_hash: key });
        return !h || isFinal(h.state);
      },
      onGone: (fn) => ctx.res.once('close', fn),
    });
    if (outcome === 'instance') {
      ctx.set('Retry-After', '5');
      const err = new errors.CustomOIDCProviderError('temporarily_unavailable', 'too many waiting requests; poll instead');
      throw Object.assign(err, { status: 503, statusCode: 503, expose: true });
    }
    if (outcome === 'address' || outcome === 'handoff') {
      ctx.set('Retry-After', String(this.#settings.pollInterval));
      throw new RateLimited('too many waiting requests from this address or for this code; poll instead', this.#settings.pollInterval);
    }
    ctx.set('Preference-Applied', `wait=${seconds}`);
    // The next poll follows a held answer: it is never told slow_down.
    const result = await this.db.raw<{ rows: Row[] }>(
      `UPDATE oidc_store SET last_polled_at = NULL WHERE model = 'DeviceCode' AND key_hash = ? RETURNING payload, consumed_at`,
      [key],
    );
    return hydrate(result.rows[0], id);
  }

  /** Code entry on the phone: every lookup is an attempt, refunded when the code exists. */
  override async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const ctx = Provider.ctx;
    const who = ctx ? { ip: ctx.ip, session: ctx.oidc?.session?.jti } : undefined;
    if (ctx && who) await withRetryAfter(ctx, this.#guard.reserve(who));
    const found = await super.findByUserCode(userCode);
    if (who && found) await this.#guard.refund(who);
    // A phone has the code in hand: pending → scanned, announced once.
    const key = typeof found?.jti === 'string' ? found.jti.slice(1) : undefined;
    if (key && (await markScanned(this.db, key))) await this.#rt.bus.publish(key);
    return found;
  }

  async #record(action: 'device.approved' | 'device.denied', payload: AdapterPayload, actorIp: string | undefined): Promise<void> {
    const device = deviceOf(payload);
    await audit(this.db, {
      action,
      accountId: payload.accountId,
      clientId: payload.clientId,
      deviceIp: device.ip,
      deviceUa: device.ua,
      actorIp,
    });
    this.#rt.onOutcome?.('device', action === 'device.approved' ? 'approved' : 'denied');
  }

  /** First approval of a code: the durable record for "Your devices", and the audit trail (once). */
  async #recordApproval(id: string, payload: AdapterPayload, actorIp: string | undefined): Promise<void> {
    const device = deviceOf(payload);
    const inserted = await recordApproval(this.db, {
      id: keyFor(id),
      kind: 'device',
      accountId: String(payload.accountId),
      clientId: String(payload.clientId),
      grantId: String(payload.grantId),
      deviceIp: device.ip,
      deviceUa: device.ua,
      requestedAt: typeof payload.iat === 'number' ? new Date(payload.iat * 1000) : null,
    });
    if (inserted) await this.#record('device.approved', payload, actorIp);
  }
}

/** The requesting device as oidc-provider recorded it at device authorization (`deviceInfo`). */
function deviceOf(payload: AdapterPayload): { ip: string | null; ua: string | null } {
  const info = (payload.deviceInfo ?? {}) as { ip?: unknown; ua?: unknown };
  return { ip: typeof info.ip === 'string' ? info.ip : null, ua: typeof info.ua === 'string' ? info.ua : null };
}

/** Sets `Retry-After` on the response when a limit refuses the request, then rethrows. */
async function withRetryAfter(ctx: { set(name: string, value: string): void }, check: Promise<void>): Promise<void> {
  try {
    await check;
  } catch (err) {
    if (err instanceof RateLimited) ctx.set('Retry-After', String(err.retryAfter));
    throw err;
  }
}
