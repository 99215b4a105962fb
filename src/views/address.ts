import { isIP } from 'node:net';

/**
 * Client addresses, parsed once: IPv4-mapped IPv6 is IPv4, brackets and zone ids are dropped, IPv6 is expanded to
 * eight groups. Anything that is not an IP address is undefined. (http/address.ts builds limits on this.)
 */
export type Parsed = Readonly<{ family: 4; octets: readonly string[] } | { family: 6; groups: readonly string[] }>;

// A request asks for its address's parse several times (limits, network, page): the last one is kept.
let last: { ip: string; parsed: Parsed | undefined } | undefined;

export function parseAddress(ip: string | null | undefined): Parsed | undefined {
  if (!ip) return undefined;
  if (last?.ip === ip) return last.parsed;
  const parsed = parse(ip);
  last = { ip, parsed };
  return parsed;
}

function parse(ip: string): Parsed | undefined {
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

/** The address as a person reads it (`127.0.0.1`, never `::ffff:127.0.0.1`; IPv6 in RFC 5952 form); `—` when unknown. */
export function displayAddress(ip: string | null | undefined): string {
  const p = parseAddress(ip);
  if (!p) return ip ? ip.slice(0, 64) : '—';
  if (p.family === 4) return p.octets.join('.');
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
