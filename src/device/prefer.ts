/**
 * The `wait` preference of an RFC 7240 `Prefer` header (`Prefer: wait=10`, possibly among other preferences),
 * capped at `max`; undefined when absent or malformed.
 */
export function preferredWait(header: string | undefined, max: number): number | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const [pref] = part.split(';');
    const m = /^\s*wait\s*=\s*"?(\d{1,6})"?\s*$/i.exec(pref ?? '');
    if (m) {
      const n = Number(m[1]);
      return n > 0 ? Math.min(n, max) : undefined;
    }
  }
  return undefined;
}
