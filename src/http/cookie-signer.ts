import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';

/**
 * The signer of signed cookies: the `keys` of the Koa app and of oidc-provider (the keygrip interface the `cookies`
 * package calls). It signs exactly as keygrip does by default, HMAC-SHA1 in unpadded base64url, so every cookie
 * already issued stays valid: with the newest key, verifying with each key in turn (rotation). Unlike keygrip, each
 * key is prepared once (keygrip hands the key string to `createHmac` on every cookie), and a digest is compared with
 * `timingSafeEqual` (keygrip's comparison computes two more HMACs per key). A signed-in browser's session cookie is
 * read on every request it makes.
 */
export class CookieSigner {
  readonly #keys: KeyObject[];

  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new Error('cookie signing needs at least one key');
    this.#keys = keys.map((k) => createSecretKey(Buffer.from(k, 'utf8')));
  }

  #digest(data: string, key: KeyObject): string {
    return createHmac('sha1', key).update(data).digest('base64url');
  }

  sign(data: unknown): string {
    return this.#digest(String(data), this.#keys[0] as KeyObject);
  }

  verify(data: unknown, digest: string): boolean {
    return this.index(data, digest) > -1;
  }

  /** Which key signed `data` into `digest` (newest first), or -1. */
  index(data: unknown, digest: string): number {
    const given = Buffer.from(String(digest), 'utf8');
    for (const [i, key] of this.#keys.entries()) {
      const expected = Buffer.from(this.#digest(String(data), key), 'utf8');
      if (expected.length === given.length && timingSafeEqual(expected, given)) return i;
    }
    return -1;
  }
}
