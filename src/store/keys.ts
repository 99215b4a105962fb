import type { JWK } from 'jose';
import type { Db } from './db.js';

/**
 * `signing_keys`, `cookie_keys` and `admin_tokens`. Key creation and rotation take an advisory lock, so instances
 * starting or rotating together never create two sets.
 */
const KEY_LOCK = 0x48414e44;

type Generate = () => Promise<Array<JWK & { kid: string; alg: string }>>;

async function insertSet(trx: Db, generate: Generate): Promise<void> {
  for (const jwk of await generate()) await trx('signing_keys').insert({ kid: jwk.kid, alg: jwk.alg, private_jwk: JSON.stringify(jwk) });
}

export function keys(db: Db) {
  return {
    /** Creates a signing set and a cookie key if none exist yet. */
    async ensure(generate: Generate, cookieSecret: () => string): Promise<void> {
      await db.transaction(async (trx) => {
        await trx.raw('SELECT pg_advisory_xact_lock(?)', [KEY_LOCK]);
        const active = await trx('signing_keys').count<{ n: string }[]>({ n: '*' }).whereNull('retired_at');
        if (Number(active[0]?.n ?? 0) === 0) await insertSet(trx, generate);
        const cookies = await trx('cookie_keys').count<{ n: string }[]>({ n: '*' });
        if (Number(cookies[0]?.n ?? 0) === 0) await trx('cookie_keys').insert({ secret: cookieSecret() });
      });
    },
    /** Private JWKs: active keys first (they sign), then retired keys still published. */
    async signing(): Promise<JWK[]> {
      const rows = await db('signing_keys')
        .select<{ private_jwk: JWK }[]>('private_jwk')
        .whereNull('retired_at')
        .orWhere('publish_until', '>', db.fn.now())
        // The JWKS lists keys in this order: current before retired, and RS256 (the default ID token algorithm) first,
        // for libraries that take the first key of the set (python-jose).
        .orderByRaw(`retired_at IS NOT NULL, created_at DESC, alg <> 'RS256', alg`);
      return rows.map((r) => r.private_jwk);
    },
    /** Cookie keys, newest first, without those past their grace period. */
    async cookie(): Promise<string[]> {
      const rows = await db('cookie_keys')
        .select<{ secret: string }[]>('secret')
        .where((q) => q.whereNull('retire_after').orWhere('retire_after', '>', db.fn.now()))
        .orderBy('id', 'desc');
      return rows.map((r) => r.secret);
    },
    /** A fingerprint of both key sets, so an instance notices rotations made elsewhere. */
    async version(): Promise<string> {
      const row = await db('signing_keys')
        .first<{ v: string | null } | undefined>(db.raw(`string_agg(kid || coalesce(retired_at::text, ''), ',' ORDER BY kid) AS v`))
        .whereNull('retired_at')
        .orWhere('publish_until', '>', db.fn.now());
      const cookies = await db('cookie_keys')
        .first<{ v: string | null } | undefined>(db.raw(`string_agg(id::text || coalesce(retire_after::text, ''), ',' ORDER BY id) AS v`))
        .where((q) => q.whereNull('retire_after').orWhere('retire_after', '>', db.fn.now()));
      return `${row?.v ?? ''};${cookies?.v ?? ''}`;
    },
    /** Retires the signing keys in use (published for `publishSeconds` more) and creates a new set. */
    async rotateSigning(publishSeconds: number, generate: Generate): Promise<{ active: string[]; retired: string[] }> {
      return db.transaction(async (trx) => {
        await trx.raw('SELECT pg_advisory_xact_lock(?)', [KEY_LOCK]);
        const retired = await trx('signing_keys')
          .update({ retired_at: trx.fn.now(), publish_until: trx.raw(`now() + make_interval(secs => ?::int)`, [publishSeconds]) })
          .whereNull('retired_at')
          .returning<{ kid: string }[]>('kid');
        await insertSet(trx, generate);
        const active = await trx('signing_keys').select<{ kid: string }[]>('kid').whereNull('retired_at');
        return { active: active.map((r) => r.kid), retired: retired.map((r) => r.kid) };
      });
    },
    /**
     * Adds a cookie key that signs from now on; the others verify for `graceSeconds` more, then are dropped. With
     * `graceSeconds` 0 (an emergency: a key leaked) every other key is dropped at once.
     */
    async rotateCookie(graceSeconds: number, secret: string): Promise<{ keys: number; graceSeconds: number }> {
      return db.transaction(async (trx) => {
        await trx.raw('SELECT pg_advisory_xact_lock(?)', [KEY_LOCK]);
        if (graceSeconds === 0) await trx('cookie_keys').delete();
        else
          await trx('cookie_keys')
            .update({ retire_after: trx.raw(`now() + make_interval(secs => ?::int)`, [graceSeconds]) })
            .whereNull('retire_after');
        await trx('cookie_keys').insert({ secret });
        await trx('cookie_keys').delete().where('retire_after', '<=', trx.fn.now());
        const kept = await trx('cookie_keys').count<{ n: string }[]>({ n: '*' });
        return { keys: Number(kept[0]?.n ?? 0), graceSeconds };
      });
    },
    async addAdminToken(hash: string): Promise<void> {
      await db('admin_tokens').insert({ token_hash: hash }).onConflict('token_hash').ignore();
    },
    async knownAdminToken(hash: string): Promise<boolean> {
      return (await db('admin_tokens').first('token_hash').where({ token_hash: hash })) !== undefined;
    },
  };
}

export type Keys = ReturnType<typeof keys>;
