import type { Context } from 'koa';
import type { DeviceCode, KoaContextWithOIDC } from 'oidc-provider';
import { sameNetwork } from '../http/address.js';
import type { Decision } from './flow.js';

/**
 * What the phone's pages, guards and the approval's rules read off a device code as oidc-provider loaded it: its row
 * key, the device that asked, and the decision a request makes on it (device/verification.ts, device/approval-rules.ts).
 */

/** What a report says of the device that asked and the phone that answered. */
export function reportedDevice(ctx: Context, code: DeviceCode) {
  const device = deviceOf(code);
  return { deviceIp: device.ip ?? null, deviceUa: device.ua ?? null, phoneIp: ctx.ip, sameNetwork: sameNetwork(device.ip, ctx.ip) };
}

/** The row key of a device code the library found by its user code (its `jti` is the handle `~<key>`). */
export const keyOf = (code: DeviceCode | undefined) => (code?.jti?.startsWith('~') ? code.jti.slice(1) : undefined);

/** A string field of a stored payload, or undefined. */
export const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The requesting device as oidc-provider recorded it at device authorization (`deviceInfo`: its IP and user agent). */
export function deviceOf(code: DeviceCode): { ip: string | undefined; ua: string | undefined } {
  return { ip: text(code.deviceInfo?.ip), ua: text(code.deviceInfo?.ua) };
}

/** A decision on `code` made by this request, as flow.ts records it. */
export function decisionOf(ctx: KoaContextWithOIDC, code: DeviceCode, key: string): Decision {
  const device = deviceOf(code);
  return {
    key,
    accountId: code.accountId,
    clientId: code.clientId ?? '',
    grantId: code.grantId,
    deviceIp: device.ip ?? null,
    deviceUa: device.ua ?? null,
    requestedAt: code.iat ? new Date(code.iat * 1000) : null,
    actorIp: ctx.ip,
    sameNetwork: sameNetwork(device.ip, ctx.ip),
  };
}
