import { isIP } from 'node:net';

/**
 * Whether two client addresses are on the same network as a person would mean it: the same IPv4 /24 or the same
 * IPv6 /64 (IPv4-mapped IPv6 compared as IPv4). Unknown or mixed families count as different.
 */
export function sameNetwork(a: string | null | undefined, b: string | null | undefined): boolean {
  const x = normalise(a);
  const y = normalise(b);
  if (!x || !y || x.family !== y.family) return false;
  return x.prefix === y.prefix;
}

function normalise(ip: string | null | undefined): { family: 4 | 6; prefix: string } | undefined {
  if (!ip) return undefined;
  const v = ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  if (isIP(v) === 4) return { family: 4, prefix: v.split('.').slice(0, 3).join('.') };
  if (isIP(v) === 6) return { family: 6, prefix: expand6(v).slice(0, 4).join(':') };
  return undefined;
}

function expand6(ip: string): string[] {
  const [head = '', tail] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail !== undefined ? Array(8 - h.length - t.length).fill('0') : [];
  return [...h, ...fill, ...t].map((g) => g.toLowerCase().padStart(4, '0'));
}
