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

/** The network of an address as a person means it: IPv4 /24 or IPv6 /64. */
export function networkOf(ip: string | null | undefined): string | undefined {
  const p = parseAddress(ip);
  if (!p) return undefined;
  if (p.family === 4) return `${p.octets.slice(0, 3).join('.')}.0/24`;
  return `${p.groups.slice(0, 4).join(':')}::/64`;
}

/** Whether two addresses are on the same network (IPv4 /24, IPv6 /64); unknown or mixed families are different. */
export function sameNetwork(a: string | null | undefined, b: string | null | undefined): boolean {
  const x = networkOf(a);
  return x !== undefined && x === networkOf(b);
}
