import { randomBytes, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Store } from '../store/index.js';

/**
 * Signing and cookie keys, generated with jose on first start and kept in the database (store/keys.ts) so every
 * instance and every restart signs with the same keys.
 *
 * Rotation: the current keys get `retired_at = now()` and stay published until `publish_until` (the longest
 * lifetime of anything they signed), while a fresh set signs from then on.
 */
export const SIGNING_ALGS = ['ES256', 'RS256', 'EdDSA'] as const;
type SigningAlg = (typeof SIGNING_ALGS)[number];

async function generate(alg: SigningAlg): Promise<JWK & { kid: string; alg: string }> {
  const { privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: randomUUID(), alg, use: 'sig' };
}

const freshSet = () => Promise.all(SIGNING_ALGS.map(generate));
const cookieSecret = () => randomBytes(32).toString('base64url');

/** Creates signing and cookie keys if none exist yet. */
export function ensureKeys(store: Store): Promise<void> {
  return store.keys.ensure(freshSet, cookieSecret);
}

/** Retires the signing keys in use (published `publishSeconds` more) and creates a new set. */
export function rotateSigningKeys(store: Store, publishSeconds: number): Promise<{ active: string[]; retired: string[] }> {
  return store.keys.rotateSigning(publishSeconds, freshSet);
}

/**
 * Adds a cookie key that signs from now on; the others keep verifying for `graceSeconds`, so nobody is signed out. With
 * 0 they stop verifying at once: every session, sign-in under way and signed cookie ends (a leaked key's emergency).
 */
export function rotateCookieKeys(store: Store, graceSeconds: number): Promise<{ keys: number; graceSeconds: number }> {
  return store.keys.rotateCookie(graceSeconds, cookieSecret());
}
