import { createHmac, hkdfSync } from 'node:crypto';
import { safeEqual } from '../storage/hash.js';

/**
 * One root secret per cookie key, one derived key per purpose (HKDF-SHA256), so a key that leaks or is misused in
 * one place says nothing about the others. The root itself only signs cookies (oidc-provider and Koa); everything
 * else uses a derived key:
 *
 * - `csrf`: form tokens (http/csrf.ts)
 * - `qr-handle`: sealing user codes into QR image URLs (device/qr.ts)
 * - `known-browser`: the "this browser signed in to this account before" cookie (accounts/sign-in-limits.ts)
 *
 * Roots come newest first: the first one makes new values, every one is accepted while it is kept (rotation).
 */
export type Purpose = 'csrf' | 'qr-handle' | 'known-browser';

const cache = new Map<string, Buffer>();

export function purposeKey(root: string, purpose: Purpose): Buffer {
  const id = `${purpose}\u0000${root}`;
  let key = cache.get(id);
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', root, 'handoff', purpose, 32));
    if (cache.size > 64) cache.clear();
    cache.set(id, key);
  }
  return key;
}

/** An HMAC of `message` under the newest root's key for `purpose`. */
export function mac(roots: string[], purpose: Purpose, message: string): string {
  return createHmac('sha256', purposeKey(roots[0] ?? '', purpose))
    .update(message)
    .digest('base64url');
}

/** Whether `value` is the HMAC of `message` under any kept root (constant time per root). */
export function verifyMac(roots: string[], purpose: Purpose, message: string, value: string): boolean {
  let ok = false;
  for (const root of roots) {
    const expected = createHmac('sha256', purposeKey(root, purpose)).update(message).digest('base64url');
    if (safeEqual(value, expected)) ok = true;
  }
  return ok && roots.length > 0;
}
