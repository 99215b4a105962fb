import type { Context } from 'koa';
import type { DeviceCode } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { Config } from '../config/schema.js';
import { changeAnnounced, type EventBus } from '../events/bus.js';
import { addressKey } from '../http/address.js';
import { type Limit, refuseIf, take } from '../http/limits.js';
import { foundByUserCode } from '../oidc/adapter.js';
import { handRowByUserCode } from '../oidc/handed-rows.js';
import { deviceCodeOf } from '../oidc/seams.js';
import { sha256 } from '../store/hash.js';
import type { Store } from '../store/index.js';
import { normalizeUserCode } from './user-code.js';

/** The limits a guess at a user code counts against: the address, and the browser session when there is one. */
export function guessLimits(config: Config, ip: string, session: string | undefined): Limit[] {
  const s = config.device;
  const refusal = { description: 'too many wrong codes; wait before trying again', key: 'throttle.body' as const };
  const limits: Limit[] = [
    { bucket: 'user-code:ip', key: addressKey(ip), windowSeconds: s.failedCodeWindowSeconds, max: s.maxFailedCodesPerIp, refusal },
  ];
  if (session) {
    limits.push({
      bucket: 'user-code:session',
      key: sha256(session),
      windowSeconds: s.failedCodeWindowSeconds,
      max: s.maxFailedCodesPerSession,
      refusal,
    });
  }
  return limits;
}

/**
 * One guess at a user code (RFC 8628 5.1; store/device-codes.ts `guess`): the code it names, if any; a miss is
 * counted against the address and the browser session, and a guess past either limit is refused (429) whether
 * or not the code exists. A malformed code names nothing and counts as a miss. The row found is what oidc-provider
 * looks up next in this request (its `findByUserCode`): it is handed on, not read twice (oidc/handed-rows.ts). With
 * `scan` (a phone opening the code), the same statement marks a live code scanned and announces it (store/device-codes.ts
 * `GuessOptions`); `scanned` says whether it was before and whether this guess did it.
 */
export async function guess(
  deps: { store: Store; bus: EventBus },
  ctx: Context,
  provider: Provider,
  typed: string,
  limits: Limit[],
  scan = false,
): Promise<{ code?: DeviceCode | undefined; scanned?: { before: boolean; now: boolean } | undefined }> {
  const userCode = normalizeUserCode(typed);
  if (!userCode) {
    await take(deps.store, limits);
    return {};
  }
  const hash = sha256(userCode);
  const found = scan
    ? await changeAnnounced(
        deps.bus,
        (channel) => deps.store.deviceCodes.guess(hash, limits, { scan: { channel } }),
        (g) => (g.scanned?.now ? g.row?.key_hash : undefined),
      )
    : await deps.store.deviceCodes.guess(hash, limits);
  refuseIf(limits, found.refused);
  if (found.row) handRowByUserCode(ctx.req, 'DeviceCode', hash, found.row);
  return { code: deviceCodeOf(provider, foundByUserCode(found.row, userCode)), scanned: found.scanned };
}
