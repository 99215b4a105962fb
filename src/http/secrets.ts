import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, type KeyObject, randomBytes } from 'node:crypto';
import { safeEqual } from '../store/hash.js';

/**
 * One root secret per cookie key, one derived key per purpose (HKDF-SHA256), so a key that leaks or is misused in
 * one place says nothing about the others. The root itself only signs cookies (oidc-provider and Koa); everything
 * else uses a derived key:
 *
 * - `csrf`: form tokens (http/csrf.ts)
 * - `qr-handle`: sealing user codes into QR image URLs (device/qr.ts)
 * - `known-browser`: the "this browser signed in to this account before" cookie (accounts/sign-in-limits.ts)
 * - `status-handle`: sealing a device code's key into its `status_uri` (device/authorization.ts)
 * - `upstream`: the browser's cookie of an upstream sign-in in flight: its `state`, `nonce` and PKCE verifier
 *   (oidc/upstream-routes.ts)
 * - `upstream-tokens`: an upstream's tokens kept on an account's link, for an upstream whose `keep_tokens` is on
 *   (accounts/upstream.ts); a `cookie-keys rotate --now` leaves them unreadable, as it should
 *
 * Roots come newest first: the first one makes new values, every one is accepted while it is kept (rotation).
 */
export type Purpose = 'csrf' | 'qr-handle' | 'known-browser' | 'status-handle' | 'upstream' | 'upstream-tokens' | 'backchannel';

// Derived once per root and purpose, and kept as a KeyObject: handing a Buffer to the cipher would rebuild one on
// every call (a measurable share of a device authorization's CPU).
const cache = new Map<string, KeyObject>();

export function purposeKey(root: string, purpose: Purpose): KeyObject {
  const id = `${purpose}\u0000${root}`;
  let key = cache.get(id);
  if (!key) {
    key = createSecretKey(Buffer.from(hkdfSync('sha256', root, 'handoff', purpose, 32)));
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

/**
 * Seals `text` with AES-256-GCM under the newest root's key for `purpose`: only Handoff can make such a value, and
 * opening it yields exactly the text sealed, or nothing. base64url of iv ‖ ciphertext ‖ tag.
 */
// Nonces are taken from a pool of random bytes filled 4 KiB at a time: one call to the system's random source per
// 341 seals instead of one each (a device authorization seals twice; a small randomBytes call cost more than the
// cipher). Each nonce is used once, as GCM requires.
let pool = Buffer.alloc(0);
let offset = 0;
function nonce(): Buffer {
  if (offset + 12 > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  offset += 12;
  return pool.subarray(offset - 12, offset);
}

export function seal(roots: string[], purpose: Purpose, text: string): string {
  const iv = nonce();
  const cipher = createCipheriv('aes-256-gcm', purposeKey(roots[0] ?? '', purpose), iv);
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** The text inside a sealed value, trying every kept root (newest first); undefined for anything not made by us. */
export function unseal(roots: string[], purpose: Purpose, sealed: string, maxLength = 200): string | undefined {
  if (sealed.length > maxLength || !/^[\w-]{40,}$/.test(sealed)) return undefined;
  const raw = Buffer.from(sealed, 'base64url');
  if (raw.length < 12 + 16 + 1) return undefined;
  for (const root of roots) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', purposeKey(root, purpose), raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
    } catch {
      // not sealed with this root
    }
  }
  return undefined;
}
