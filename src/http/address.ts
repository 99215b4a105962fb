import { isIP } from 'node:net';

/**
 * Client addresses as limits and people need them.
 *
 * - {@link displayAddress}: what a person reads (`127.0.0.1`, never `::ffff:127.0.0.1`).
 * - {@link addressKey}: what a per-address limit counts. An IPv4 address counts alone; an IPv6 address counts by its
 *   /64, because one subscriber line or one host gets a whole /64 and can pick any address in it.
 * - {@link sameNetwork}: the same IPv4 /24 or IPv6 /64, as a person means "on the same network".
 *
 * Anything that is not an IP address (a hostile `X-Forwarded-For` behind a misconfigured proxy) is one shared key,
 * `invalid`, so it can neither mint fresh budgets nor reach the database as text.
 */
type Parsed = { family: 4; octets: string[] } | { family: 6; groups: string[] };

function parse(ip: string | null | undefined): Parsed | undefined {
  if (!ip) return undefined;
  const bare = ip
    .trim()
    .replace(/^\[|\]$/g, '')
    .replace(/%.*$/, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
  const v = mapped ? (mapped[1] as string) : bare;
  const family = isIP(v);
  if (family === 4) return { family: 4, octets: v.split('.').map((o) => String(Number(o))) };
  if (family === 6) return { family: 6, groups: expand6(v) };
  return undefined;
}

function expand6(ip: string): string[] {
  let text = ip.toLowerCase();
  // An embedded IPv4 tail (::1.2.3.4) becomes two groups.
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const fill = rest !== undefined ? Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0') : [];
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0'));
}

/** The address as a person reads it; `—` when unknown. */
export function displayAddress(ip: string | null | undefined): string {
  const p = parse(ip);
  if (!p) return ip ? ip.slice(0, 64) : '—';
  if (p.family === 4) return p.octets.join('.');
  // Shortest standard form (RFC 5952): drop leading zeros, collapse the longest run of zero groups.
  const groups = p.groups.map((g) => g.replace(/^0+(?=.)/, ''));
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j += 1;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

/** The key a per-address limit counts under: the IPv4 address, or the IPv6 /64 prefix. */
export function addressKey(ip: string | null | undefined): string {
  const p = parse(ip);
  if (!p) return 'invalid';
  if (p.family === 4) return p.octets.join('.');
  return `${p.groups.slice(0, 4).join(':')}::/64`;
}

/** The network of an address as a person means it: IPv4 /24 or IPv6 /64. */
export function networkOf(ip: string | null | undefined): string | undefined {
  const p = parse(ip);
  if (!p) return undefined;
  if (p.family === 4) return `${p.octets.slice(0, 3).join('.')}.0/24`;
  return `${p.groups.slice(0, 4).join(':')}::/64`;
}

/** Whether two addresses are on the same network (IPv4 /24, IPv6 /64); unknown or mixed families are different. */
export function sameNetwork(a: string | null | undefined, b: string | null | undefined): boolean {
  const x = networkOf(a);
  return x !== undefined && x === networkOf(b);
}
