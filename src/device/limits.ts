import { errors } from 'oidc-provider';
import { hit, hitMany, releaseMany, type Window } from '../accounts/throttle.js';
import type { Config } from '../config/schema.js';
import type { Db } from '../storage/db.js';
import { sha256 } from '../storage/hash.js';

export type DeviceSettings = Config['device'];

/**
 * A refusal for going too fast: HTTP 429 with `Retry-After`. On protocol endpoints its `error` is RFC 8628's
 * `slow_down`; the code-entry page draws it as a readable "too many attempts" page.
 */
export class RateLimited extends errors.CustomOIDCProviderError {
  readonly retryAfter: number;
  constructor(description: string, retryAfter: number) {
    super('slow_down', description);
    this.name = 'RateLimited';
    Object.assign(this, { status: 429, statusCode: 429, expose: true });
    this.retryAfter = Math.max(1, retryAfter);
  }
}

/**
 * Counts wrong user codes per browser session and per IP address (RFC 8628 5.1). An attempt is reserved before
 * the lookup (atomically, so parallel guesses cannot overrun the limit) and given back when the code exists; a
 * correct code never resets earlier failures.
 */
export class UserCodeGuard {
  readonly #db: Db;
  readonly #s: DeviceSettings;
  constructor(db: Db, settings: DeviceSettings) {
    this.#db = db;
    this.#s = settings;
  }

  #windows(who: { ip: string; session?: string | undefined }): Array<[Window, number]> {
    const windowSeconds = this.#s.failedCodeWindowSeconds;
    const out: Array<[Window, number]> = [[{ bucket: 'user-code:ip', key: who.ip, windowSeconds }, this.#s.maxFailedCodesPerIp]];
    if (who.session) out.push([{ bucket: 'user-code:session', key: sha256(who.session), windowSeconds }, this.#s.maxFailedCodesPerSession]);
    return out;
  }

  /** Reserves one attempt; throws {@link RateLimited} when the session or the IP address has no attempts left. */
  async reserve(who: { ip: string; session?: string | undefined }): Promise<void> {
    const windows = this.#windows(who);
    const results = await hitMany(
      this.#db,
      windows.map(([w]) => w),
    );
    let retry = 0;
    results.forEach((r, i) => {
      if (r.count > (windows[i]?.[1] ?? 0)) retry = Math.max(retry, r.retryAfter);
    });
    if (retry > 0) {
      // A refused attempt is not a guess: it does not stretch the block.
      await releaseMany(
        this.#db,
        windows.map(([w]) => w),
      );
      throw new RateLimited('too many wrong codes; wait before trying again', retry);
    }
  }

  /** The code existed: the reserved attempt was not a failure. */
  async refund(who: { ip: string; session?: string | undefined }): Promise<void> {
    await releaseMany(
      this.#db,
      this.#windows(who).map(([w]) => w),
    );
  }
}

/** Device authorizations per IP address and per client, and unknown device codes per IP address (RFC 8628 5.2). */
export async function checkMintLimits(db: Db, s: DeviceSettings, ip: string, clientId: string): Promise<void> {
  const windowSeconds = s.authorizationWindowSeconds;
  const [byIp, byClient] = await hitMany(db, [
    { bucket: 'device-auth:ip', key: ip, windowSeconds },
    { bucket: 'device-auth:client', key: clientId, windowSeconds },
  ]);
  if (byIp && byIp.count > s.maxAuthorizationsPerIp)
    throw new RateLimited('too many device authorizations from this address', byIp.retryAfter);
  if (byClient && byClient.count > s.maxAuthorizationsPerClient)
    throw new RateLimited('too many device authorizations for this client', byClient.retryAfter);
}

export async function countUnknownDeviceCode(db: Db, s: DeviceSettings, ip: string): Promise<void> {
  const r = await hit(db, { bucket: 'device-code:unknown', key: ip, windowSeconds: s.unknownDeviceCodeWindowSeconds });
  if (r.count > s.maxUnknownDeviceCodesPerIp) throw new RateLimited('too many unknown device codes from this address', r.retryAfter);
}
