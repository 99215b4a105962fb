import { parseAddress } from '../views/address.js';

/**
 * Client addresses as limits need them.
 *
 * - {@link addressKey}: what a per-address limit counts. An IPv4 address counts alone; an IPv6 address counts by its
 *   /64, because one subscriber line or one host gets a whole /64 and can pick any address in it.
 * - {@link sameNetwork}: the same IPv4 /24 or IPv6 /64, as a person means "on the same network".
 *
 * Anything that is not an IP address (a hostile `X-Forwarded-For` behind a misconfigured proxy) is one shared key,
 * `invalid`, so it can neither mint fresh budgets nor reach the database as text. (Display: views/address.ts.)
 */
export function addressKey(ip: string | null | undefined): string {
  const p = parseAddress(ip);
  if (!p) return 'invalid';
  if (p.family === 4) return p.octets.join('.');
  return `${p.groups.slice(0, 4).join(':')}::/64`;
}

/** The network of an address as a person means it: IPv4 /24 or IPv6 /64; loopback (either family) is this machine. */
export function networkOf(ip: string | null | undefined): string | undefined {
  const p = parseAddress(ip);
  if (!p) return undefined;
  if ((p.family === 4 && p.octets[0] === '127') || (p.family === 6 && p.groups.join(':') === '0000:0000:0000:0000:0000:0000:0000:0001')) {
    return 'loopback';
  }
  if (p.family === 4) return `${p.octets.slice(0, 3).join('.')}.0/24`;
  return `${p.groups.slice(0, 4).join(':')}::/64`;
}

/** Whether two addresses are on the same network (IPv4 /24, IPv6 /64); unknown or mixed families are different. */
export function sameNetwork(a: string | null | undefined, b: string | null | undefined): boolean {
  const x = networkOf(a);
  return x !== undefined && x === networkOf(b);
}

/**
 * A client's proximity policy for cross-device handoffs (client metadata `handoff_proximity`): whether the device or
 * computer that asks and the phone that decides must be on the same network. `warn` (the default) says so on the
 * decision page; `require` refuses approval from another network; `off` says nothing.
 */
export type Proximity = 'off' | 'warn' | 'require';
export const PROXIMITIES: readonly Proximity[] = ['off', 'warn', 'require'];

export function proximityOf(metadata: Record<string, unknown> | undefined): Proximity {
  const v = metadata?.handoff_proximity;
  return typeof v === 'string' && (PROXIMITIES as readonly string[]).includes(v) ? (v as Proximity) : 'warn';
}

/** What the decision page must do about two addresses under a policy. */
export function proximityCheck(
  policy: Proximity,
  deviceIp: string | null | undefined,
  phoneIp: string,
): { same: boolean; warn: boolean; refuse: boolean } {
  const same = sameNetwork(deviceIp, phoneIp);
  return { same, warn: policy === 'warn' && !same, refuse: policy === 'require' && !same };
}
