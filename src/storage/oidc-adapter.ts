import Provider, { type Adapter, type AdapterPayload, errors } from 'oidc-provider';
import type { Db } from './db.js';
import { isStorableText, sha256, toJsonb } from './hash.js';
import { revokeGrant } from '../store/grants.js';

/**
 * oidc-provider's storage contract on knex, one table (`oidc_store`) for every model except clients.
 *
 * Secrets the provider mints (token and code values, session ids, interaction ids, user codes, session uids)
 * are stored only as SHA-256 hashes: `key_hash` is the hash of the id, `jti` is stripped from the payload and
 * put back from the caller's argument on read.
 *
 * One twist: a device code found by its user code has no cleartext id to hand back. It gets a *handle*,
 * `~` + the row's key hash (`~` is outside the alphabet of minted ids), which `upsert`/`find`/`consume` map
 * straight to the row. A handle is refused on the token endpoint, so a leaked hash can never redeem a code.
 */
const HANDLE = /^~([0-9a-f]{64})$/;

/** Models whose single use is a security property: a lost race answers `invalid_grant`. */
const GRANT_MODELS = new Set(['AuthorizationCode', 'DeviceCode', 'RefreshToken', 'BackchannelAuthenticationRequest']);

/** Routes allowed to address a device code by handle (the user-facing verification flow). */
const HANDLE_ROUTES = new Set(['code_verification', 'device_resume']);

/** Models that hand out handles (found by user code or by uid); for every other model a handle is just an unknown id. */
const HANDLE_MODELS = new Set(['DeviceCode', 'Session']);

export type Row = { payload: AdapterPayload; consumed_at: Date | string | null };

export function keyFor(id: string, model = 'DeviceCode'): string {
  const handle = HANDLE_MODELS.has(model) ? HANDLE.exec(id) : null;
  if (handle) {
    const route = Provider.ctx?.oidc?.route;
    if (model === 'DeviceCode' && route !== undefined && !HANDLE_ROUTES.has(route)) {
      throw new errors.InvalidGrant('grant request is invalid');
    }
    return handle[1] as string;
  }
  return sha256(id);
}

function toEpoch(at: Date | string | null): number | undefined {
  if (at === null) return undefined;
  return Math.floor(new Date(at).getTime() / 1000);
}

export function hydrate(row: Row | undefined, jti: string): AdapterPayload | undefined {
  if (!row) return undefined;
  const consumed = toEpoch(row.consumed_at);
  return { ...row.payload, jti, ...(consumed !== undefined ? { consumed } : {}) };
}

/** The adapter factory oidc-provider calls once per model name. */
export function createAdapterFactory(db: Db, special: Record<string, Adapter> = {}): (name: string) => Adapter {
  return (name: string) => special[name] ?? (name === 'Client' ? new ClientAdapter(db) : new StoreAdapter(db, name));
}

/** The store for one oidc-provider model; `device/device-code-adapter.ts` extends it for device codes. */
export class StoreAdapter implements Adapter {
  protected readonly db: Db;
  protected readonly model: string;

  constructor(db: Db, model: string) {
    this.db = db;
    this.model = model;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const { jti: _jti, userCode, consumed: _consumed, ...rest } = payload;
    const stored: Record<string, unknown> = { ...rest };
    const session = stored.session as { cookie?: string } | undefined;
    if (session?.cookie) stored.session = { ...session, cookie: sha256(session.cookie) };
    const uid = this.model === 'Session' && typeof payload.uid === 'string' ? sha256(payload.uid) : null;
    await this.db.raw(
      `INSERT INTO oidc_store (model, key_hash, payload, grant_id, user_code_hash, uid_hash, status_hash, expires_at)
       VALUES (?, ?, ?::jsonb, ?, ?, ?, ?, CASE WHEN ?::int > 0 THEN now() + make_interval(secs => ?::int) END)
       ON CONFLICT (model, key_hash) DO UPDATE SET
         payload = excluded.payload,
         grant_id = excluded.grant_id,
         user_code_hash = COALESCE(excluded.user_code_hash, oidc_store.user_code_hash),
         uid_hash = COALESCE(excluded.uid_hash, oidc_store.uid_hash),
         status_hash = COALESCE(excluded.status_hash, oidc_store.status_hash),
         expires_at = excluded.expires_at`,
      [
        this.model,
        keyFor(id, this.model),
        toJsonb(stored),
        payload.grantId ?? null,
        typeof userCode === 'string' ? sha256(userCode) : null,
        uid,
        this.statusHashFor(payload),
        expiresIn,
        expiresIn,
      ],
    );
  }

  /** A column only device codes fill (the hash of their status_uri handle); see DeviceCodeAdapter. */
  protected statusHashFor(_payload: AdapterPayload): string | null {
    return null;
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const row = await this.db('oidc_store')
      .first<Row | undefined>('payload', 'consumed_at')
      .where({ model: this.model, key_hash: keyFor(id, this.model) });
    return hydrate(row, id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const row = await this.db('oidc_store')
      .first<(Row & { key_hash: string }) | undefined>('payload', 'consumed_at', 'key_hash')
      .where({ model: this.model, user_code_hash: sha256(userCode) });
    const found = hydrate(row, `~${row?.key_hash}`);
    return found && { ...found, userCode };
  }

  /** Sessions by uid (read-only uses: interaction and token session binding); addressed by handle. */
  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const row = await this.db('oidc_store')
      .first<(Row & { key_hash: string }) | undefined>('payload', 'consumed_at', 'key_hash')
      .where({ model: this.model, uid_hash: sha256(uid) });
    return hydrate(row, `~${row?.key_hash}`);
  }

  /** Single conditional UPDATE: of many concurrent redemptions exactly one succeeds. */
  async consume(id: string): Promise<void> {
    const updated = await this.db('oidc_store')
      .update({ consumed_at: this.db.fn.now() })
      .where({ model: this.model, key_hash: keyFor(id, this.model) })
      .whereNull('consumed_at');
    if (updated === 0 && GRANT_MODELS.has(this.model)) {
      throw new errors.InvalidGrant('grant request is invalid');
    }
  }

  async destroy(id: string): Promise<void> {
    await this.db('oidc_store')
      .delete()
      .where({ model: this.model, key_hash: keyFor(id, this.model) });
  }

  /** Revokes a grant with everything issued under it (store/grants.ts, the one revoke-by-grant). */
  async revokeByGrantId(grantId: string): Promise<void> {
    await this.db.transaction((trx) => revokeGrant(trx, grantId));
  }
}

/**
 * Clients live in their own table so the admin API can list them; their ids are public. oidc-provider looks the
 * client up on every request, so rows are cached for {@link CLIENT_CACHE_MS}: a change made here applies at once,
 * one made on another instance within that time.
 */
export const CLIENT_CACHE_MS = 2000;
const clientCache = new Map<string, { at: number; row: AdapterPayload | undefined }>();

/** Drops cached clients (after a change through the admin API on this instance). */
export function forgetClient(id?: string): void {
  if (id === undefined) clientCache.clear();
  else clientCache.delete(id);
}

export class ClientAdapter implements Adapter {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  async upsert(id: string, payload: AdapterPayload): Promise<void> {
    await this.#db('clients')
      .insert({ client_id: id, metadata: toJsonb(payload) })
      .onConflict('client_id')
      .merge(['metadata']);
    forgetClient(id);
  }
  async find(id: string): Promise<AdapterPayload | undefined> {
    if (!isStorableText(id)) return undefined;
    const cached = clientCache.get(id);
    if (cached && Date.now() - cached.at < CLIENT_CACHE_MS) return cached.row;
    const result = await this.#db.raw<{ rows: { metadata: AdapterPayload }[] }>('SELECT metadata FROM clients WHERE client_id = ?', [id]);
    const row = result.rows[0]?.metadata;
    if (clientCache.size > 10_000) clientCache.clear();
    clientCache.set(id, { at: Date.now(), row });
    return row;
  }
  async findByUserCode(): Promise<undefined> {
    return undefined;
  }
  async findByUid(): Promise<undefined> {
    return undefined;
  }
  async consume(): Promise<void> {}
  async destroy(id: string): Promise<void> {
    await this.#db('clients').delete().where({ client_id: id });
    forgetClient(id);
  }
  async revokeByGrantId(): Promise<void> {}
}
