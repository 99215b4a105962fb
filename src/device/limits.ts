import { errors } from 'oidc-provider';
import type { Config } from '../config/schema.js';
import { addressKey } from '../http/address.js';
import { LimitExceeded, giveBack, take } from '../http/limits.js';
import type { Db } from '../storage/db.js';
import { sha256 } from '../storage/hash.js';
import type { Counter } from '../store/counters.js';

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

/** Runs {@link take}, turning a refusal into the protocol's {@link RateLimited}. */
async function takeOrSlowDown(db: Db, counters: Counter[], description: string): Promise<void> {
  try {
    await take(db, counters);
  } catch (err) {
    if (err instanceof LimitExceeded) throw new RateLimited(description, err.retryAfter);
    throw err;
  }
}

/**
 * Counts wrong user codes per IP address and per browser session (RFC 8628 5.1). An attempt is reserved before
 * the lookup (atomically, so parallel guesses cannot overrun the limit) and given back when the code exists; a
 * correct code never resets earlier failures. The address is checked first: an address past its limit spends
 * nothing of the session's budget.
 */
export class UserCodeGuard {
  readonly #db: Db;
  readonly #s: DeviceSettings;
  constructor(db: Db, settings: DeviceSettings) {
    this.#db = db;
    this.#s = settings;
  }

  #counters(who: { ip: string; session?: string | undefined }): Counter[] {
    const windowSeconds = this.#s.failedCodeWindowSeconds;
    const out: Counter[] = [{ bucket: 'user-code:ip', key: addressKey(who.ip), windowSeconds, max: this.#s.maxFailedCodesPerIp }];
    if (who.session) {
      out.push({ bucket: 'user-code:session', key: sha256(who.session), windowSeconds, max: this.#s.maxFailedCodesPerSession });
    }
    return out;
  }

  /** Reserves one attempt; throws {@link RateLimited} when the address or the session has no attempts left. */
  reserve(who: { ip: string; session?: string | undefined }): Promise<void> {
    return takeOrSlowDown(this.#db, this.#counters(who), 'too many wrong codes; wait before trying again');
  }

  /** The code existed: the reserved attempt was not a failure. */
  refund(who: { ip: string; session?: string | undefined }): Promise<void> {
    return giveBack(this.#db, this.#counters(who));
  }
}

/**
 * Device authorizations per IP address (RFC 8628 5.2), and per client only when an operator set a ceiling: a
 * per-client budget is shared by every TV of that client, so it is a circuit breaker, off by default. The address
 * comes first, so a flood from one address is refused before it can touch the client's budget.
 */
export function checkMintLimits(db: Db, s: DeviceSettings, ip: string, clientId: string): Promise<void> {
  const windowSeconds = s.authorizationWindowSeconds;
  const counters: Counter[] = [{ bucket: 'device-auth:ip', key: addressKey(ip), windowSeconds, max: s.maxAuthorizationsPerIp }];
  if (s.maxAuthorizationsPerClient !== null) {
    counters.push({ bucket: 'device-auth:client', key: clientId, windowSeconds, max: s.maxAuthorizationsPerClient });
  }
  return takeOrSlowDown(db, counters, 'too many device authorizations; wait before starting another');
}

/** Unknown `device_code` values presented per IP address: a guesser is stopped, nobody else. */
export function countUnknownDeviceCode(db: Db, s: DeviceSettings, ip: string): Promise<void> {
  return takeOrSlowDown(
    db,
    [
      {
        bucket: 'device-code:unknown',
        key: addressKey(ip),
        windowSeconds: s.unknownDeviceCodeWindowSeconds,
        max: s.maxUnknownDeviceCodesPerIp,
      },
    ],
    'too many unknown device codes from this address',
  );
}
