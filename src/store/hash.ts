import { hash, timingSafeEqual } from 'node:crypto';

/** Hex SHA-256 of a secret Handoff minted itself (high-entropy, so a fast hash is enough to store it). */
export function sha256(value: string): string {
  // The one-shot form: no Hash object per call (a device authorization hashes four values).
  return hash('sha256', value, 'hex');
}

/**
 * The stored form of a client secret Handoff minted (admin/clients.ts): its SHA-256, never the secret. The prefix
 * tells a stored hash from a secret, so a hash sent as a secret never matches.
 */
export function clientSecretHash(secret: string): string {
  return `sha256:${sha256(secret)}`;
}

/** Whether `presented` is the secret whose stored form is `stored`, in constant time. */
export function clientSecretMatches(stored: string | undefined, presented: string): boolean {
  return !!stored && stored.startsWith('sha256:') && safeEqual(stored, clientSecretHash(presented));
}

/** Constant-time equality of two strings (false when lengths differ, without early exit on content). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ab.length !== bb.length) {
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}

/**
 * PostgreSQL text and jsonb cannot hold U+0000, so a lookup key containing it can match nothing: callers answer
 * "not found" instead of sending it (which would fail the statement).
 */
export function isStorableText(value: string): boolean {
  return !value.includes('\u0000');
}

/** JSON for a jsonb column: any U+0000 inside strings becomes U+FFFD (only hostile input carries it). */
export function toJsonb(value: unknown): string {
  const text = JSON.stringify(value);
  // JSON escapes U+0000 as \u0000; only then is the slower, value-by-value pass needed.
  if (!text.includes('\\u0000')) return text;
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'string' && v.includes('\u0000') ? v.replaceAll('\u0000', '\uFFFD') : v,
  );
}
