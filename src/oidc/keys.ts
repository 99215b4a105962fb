import { randomBytes, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Db } from '../storage/db.js';

/**
 * Signing and cookie keys, generated with jose on first start and kept in the database so every instance and
 * every restart signs with the same keys.
 *
 * Rotation: the current keys get `retired_at = now()` and stay published until `publish_until` (the longest
 * lifetime of anything they signed), while a fresh set signs from then on.
 */
export const SIGNING_ALGS = ['ES256', 'RS256', 'EdDSA'] as const;
type SigningAlg = (typeof SIGNING_ALGS)[number];

/** Serialises key creation across instances that start together (same value in every process). */
const KEY_LOCK = 0x48414e44;

async function generate(alg: SigningAlg): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: randomUUID(), alg, use: 'sig' };
}

async function insertFreshSet(trx: Db): Promise<void> {
  for (const alg of SIGNING_ALGS) {
    const jwk = await generate(alg);
    await trx('signing_keys').insert({ kid: jwk.kid, alg, private_jwk: JSON.stringify(jwk) });
  }
}

/** Creates signing and cookie keys if none exist yet. */
export async function ensureKeys(db: Db): Promise<void> {
  await db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?)', [KEY_LOCK]);
    const active = await trx('signing_keys').count<{ n: string }[]>({ n: '*' }).whereNull('retired_at');
    if (Number(active[0]?.n ?? 0) === 0) await insertFreshSet(trx);
    const cookies = await trx('cookie_keys').count<{ n: string }[]>({ n: '*' });
    if (Number(cookies[0]?.n ?? 0) === 0) await trx('cookie_keys').insert({ secret: randomBytes(32).toString('base64url') });
  });
}

/** Private JWKs for oidc-provider: active keys first (they sign), then retired keys still published. */
export async function loadSigningKeys(db: Db): Promise<JWK[]> {
  const rows = await db('signing_keys')
    .select<{ private_jwk: JWK }[]>('private_jwk')
    .whereNull('retired_at')
    .orWhere('publish_until', '>', db.fn.now())
    .orderByRaw('retired_at IS NOT NULL, created_at DESC, alg');
  return rows.map((r) => r.private_jwk);
}

/**
 * Cookie keys, newest first: oidc-provider and Koa sign cookies with the first and verify with all, and every
 * other secret is derived from them per purpose (http/secrets.ts). Keys past their grace period are left out.
 */
export async function loadCookieKeys(db: Db): Promise<string[]> {
  const rows = await db('cookie_keys')
    .select<{ secret: string }[]>('secret')
    .where((q) => q.whereNull('retire_after').orWhere('retire_after', '>', db.fn.now()))
    .orderBy('id', 'desc');
  return rows.map((r) => r.secret);
}

/**
 * Adds a cookie key that signs from now on. The keys it replaces keep verifying for `graceSeconds` (the longest a
 * session can live), so nobody is signed out by a rotation; after that they are dropped.
 */
export async function rotateCookieKeys(db: Db, graceSeconds: number): Promise<{ keys: number; graceSeconds: number }> {
  return db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?)', [KEY_LOCK]);
    await trx('cookie_keys')
      .update({ retire_after: trx.raw(`now() + make_interval(secs => ?::int)`, [graceSeconds]) })
      .whereNull('retire_after');
    await trx('cookie_keys').insert({ secret: randomBytes(32).toString('base64url') });
    await trx('cookie_keys').delete().where('retire_after', '<=', trx.fn.now());
    const kept = await trx('cookie_keys').count<{ n: string }[]>({ n: '*' });
    return { keys: Number(kept[0]?.n ?? 0), graceSeconds };
  });
}

/** A fingerprint of the key set (signing and cookie keys), so an instance notices rotations made elsewhere. */
export async function keySetVersion(db: Db): Promise<string> {
  const row = await db('signing_keys')
    .first<{ v: string | null } | undefined>(db.raw(`string_agg(kid || coalesce(retired_at::text, ''), ',' ORDER BY kid) AS v`))
    .whereNull('retired_at')
    .orWhere('publish_until', '>', db.fn.now());
  const cookies = await db('cookie_keys')
    .first<{ v: string | null } | undefined>(db.raw(`string_agg(id::text || coalesce(retire_after::text, ''), ',' ORDER BY id) AS v`))
    .where((q) => q.whereNull('retire_after').orWhere('retire_after', '>', db.fn.now()));
  return `${row?.v ?? ''};${cookies?.v ?? ''}`;
}

/**
 * Retires the signing keys in use and creates a new set. The retired keys remain published for
 * `publishSeconds` so tokens they signed keep verifying. Returns the new and retired key ids.
 */
export async function rotateSigningKeys(db: Db, publishSeconds: number): Promise<{ active: string[]; retired: string[] }> {
  return db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?)', [KEY_LOCK]);
    const retired = await trx('signing_keys')
      .update({ retired_at: trx.fn.now(), publish_until: trx.raw(`now() + make_interval(secs => ?::int)`, [publishSeconds]) })
      .whereNull('retired_at')
      .returning<{ kid: string }[]>('kid');
    await insertFreshSet(trx);
    const active = await trx('signing_keys').select<{ kid: string }[]>('kid').whereNull('retired_at');
    return { active: active.map((r) => r.kid), retired: retired.map((r) => r.kid) };
  });
}
