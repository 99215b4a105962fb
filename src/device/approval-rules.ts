import type { KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { EventBus } from '../events/bus.js';
import { proximityCheck, proximityOf } from '../http/address.js';
import { numberMatchingOn } from '../http/number-match.js';
import { handApproval } from '../oidc/handed-rows.js';
import type { Store } from '../store/index.js';
import { outsideDeviceScopes } from './authorization.js';
import { decisionOf, deviceOf, keyOf, text } from './code-facts.js';
import { approvalAudit } from './flow.js';

/**
 * The cross-device rules of an approval, checked where oidc-provider makes the grant that records it (its
 * `loadExistingGrant`, on the code verification and device resume routes): whatever form or route carried the
 * approval, a `require` proximity policy refuses a phone on another network, and `device_flow_scopes` refuses scopes
 * outside the client's list. A refusal is oidc-provider's `access_denied`: the library records it on the code, so the
 * device gets `access_denied` and nothing is issued.
 */
export function approvalRules(deps: { store: Store; bus: EventBus }): (ctx: KoaContextWithOIDC) => Promise<void> {
  return async (ctx) => {
    const code = ctx.oidc.entities.DeviceCode;
    const client = ctx.oidc.client;
    if (!code || !client) return;
    const metadata = client.metadata();
    if (proximityCheck(proximityOf(metadata), deviceOf(code).ip, ctx.ip).refuse) {
      throw new errors.AccessDenied('approval from another network is not allowed for this application');
    }
    const outside = outsideDeviceScopes(metadata, text(code.params?.scope) ?? '');
    if (outside.length) throw new errors.AccessDenied(`this application may not ask a device for ${outside.join(' ')}`);
    // Number matching: the number the device showed was picked on this phone (recorded by the decision form).
    const key = keyOf(code);
    if (numberMatchingOn(metadata, 'device') && !(key && (await deps.store.deviceCodes.wasMatched(key)))) {
      throw new errors.AccessDenied('the number the device shows was not picked');
    }
    // Allowed: the approval's record goes with the library's write of the approval, in its statement.
    if (key) {
      const d = decisionOf(ctx, code, key);
      const record = { deviceIp: d.deviceIp, deviceUa: d.deviceUa, requestedAt: d.requestedAt, audit: approvalAudit(d) };
      handApproval(ctx.req, key, { record, channel: deps.bus.channel });
    }
  };
}
