import { type Adapter, type AdapterPayload, errors } from 'oidc-provider';
import { clientSecretHash, sha256, toJsonb } from '../store/hash.js';
import type { Store } from '../store/index.js';
import type { OidcRow } from '../store/oidc.js';
import { notifyQueueFull } from '../events/bus.js';
import type { ApprovalRecord } from '../store/approvals.js';
import type { UpsertColumns } from '../store/oidc.js';
import {
  dropHandedRow,
  type HandedApproval,
  handedApproval,
  handSessionAccount,
  takeHandedRow,
  takeHandedRowByUserCode,
} from './handed-rows.js';
import { codeAlreadyUsed } from './seams.js';

/**
 * oidc-provider's storage contract over the store: it stores, and keeps one rule (the device flow's other rules live
 * in device/, applied before oidc-provider runs): a device code is decided once, checked by the write that records
 * the decision (`upsert` below, store/oidc.ts `decide`).
 *
 * Secrets the provider mints (token and code values, session ids, interaction ids, user codes, session uids)
 * are stored only as SHA-256 hashes: `key_hash` is the hash of the id, `jti` is stripped from the payload and
 * put back from the caller's argument on read.
 *
 * One twist: a device code found by its user code, and a session found by its uid, have no cleartext id to hand
 * back. They get a *handle*, `~` + the row's key hash (`~` is outside the alphabet of minted ids), which
 * `upsert`/`find`/`consume` map straight to the row. For every other model a handle is just an id nobody minted.
 * The token endpoint refuses handles as device codes before oidc-provider sees them (device/token.ts), so a leaked
 * hash can never redeem a code.
 */
const HANDLE = /^~([0-9a-f]{64})$/;
const HANDLE_MODELS = new Set(['DeviceCode', 'Session']);

/** Models whose single use is a security property: a lost race answers `invalid_grant`. */
const GRANT_MODELS = new Set(['AuthorizationCode', 'DeviceCode', 'RefreshToken', 'BackchannelAuthenticationRequest']);

/** Whether a device code's payload is a step of its decision: confirmed (`inFlight`), approved or declined. */
const decisionStep = (payload: AdapterPayload) =>
  payload.inFlight === true || payload.accountId !== undefined || payload.error !== undefined;

/** The row key of an id of `model`: the hash of the id, or the hash inside a handle. */
export function keyFor(id: string, model: string): string {
  const handle = HANDLE_MODELS.has(model) ? HANDLE.exec(id) : null;
  return handle ? (handle[1] as string) : sha256(id);
}

/** Whether a presented value is a handle (never a credential: see above). */
export const isHandle = (id: string) => HANDLE.test(id);

function toEpoch(at: Date | string | null): number | undefined {
  if (at === null) return undefined;
  return Math.floor(new Date(at).getTime() / 1000);
}

function hydrate(row: OidcRow | undefined, jti: string): AdapterPayload | undefined {
  if (!row) return undefined;
  const consumed = toEpoch(row.consumed_at);
  return { ...row.payload, jti, ...(consumed !== undefined ? { consumed } : {}) };
}

/** A row found by its user code, as `findByUserCode` hands it to oidc-provider: addressed by its handle. */
export function foundByUserCode(row: OidcRow | undefined, userCode: string): AdapterPayload | undefined {
  const found = hydrate(row, `~${row?.key_hash}`);
  return found && { ...found, userCode };
}

/** The adapter factory oidc-provider calls once per model name. */
export function createAdapterFactory(store: Store): (name: string) => Adapter {
  return (name: string) => (name === 'Client' ? new ClientAdapter(store) : new StoreAdapter(store, name));
}

/** The store for one oidc-provider model. */
export class StoreAdapter implements Adapter {
  readonly #store: Store;
  readonly #model: string;

  constructor(store: Store, model: string) {
    this.#store = store;
    this.#model = model;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const { jti: _jti, userCode, consumed: _consumed, ...rest } = payload;
    const stored: Record<string, unknown> = { ...rest };
    // An interaction keeps the session it belongs to; its cookie (the session id) is a bearer value: hashed.
    const session = stored.session as { cookie?: string } | undefined;
    if (session?.cookie) stored.session = { ...session, cookie: sha256(session.cookie) };
    const key = keyFor(id, this.#model);
    dropHandedRow(this.#model, key);
    const columns = {
      grantId: typeof payload.grantId === 'string' ? payload.grantId : null,
      userCodeHash: typeof userCode === 'string' ? sha256(userCode) : null,
      uidHash: this.#model === 'Session' && typeof payload.uid === 'string' ? sha256(payload.uid) : null,
      // A model made without a lifetime (an initial access token without expiry) never expires; one saved at or past
      // its end (a decision racing the code's expiry) expires at once, and is purged like any other.
      expiresIn: Number.isFinite(expiresIn) ? Math.max(expiresIn, 1) : 0,
    };
    // A device code is decided once: the step that finds the row already claimed or decided loses, as the library's
    // own check would have refused it had the two requests not read the code at the same time.
    if (this.#model === 'DeviceCode' && decisionStep(payload)) {
      // The approval itself, with the record its rules handed on: both in one statement.
      const approval = typeof payload.accountId === 'string' && typeof payload.clientId === 'string' ? handedApproval(key) : undefined;
      if (approval && !approval.outcome) {
        const record = { ...approval.record, accountId: payload.accountId as string, clientId: payload.clientId as string };
        const outcome = await this.#decided(key, toJsonb(stored), columns, record, approval.channel);
        if (!outcome.decided) throw codeAlreadyUsed();
        approval.outcome = { recorded: outcome.recorded, announced: outcome.announced };
        return;
      }
      if (!(await this.#store.oidc.decide(this.#model, key, toJsonb(stored), columns))) throw codeAlreadyUsed();
      return;
    }
    await this.#store.oidc.upsert(this.#model, key, toJsonb(stored), columns);
  }

  /**
   * An approval and its record ({@link HandedApproval}), announced on `channel` by the same statement; where
   * PostgreSQL refuses that notification (a full NOTIFY queue undoes the statement), made again unannounced.
   */
  async #decided(key: string, json: string, columns: UpsertColumns, record: ApprovalRecord, channel?: string) {
    try {
      return {
        ...(await this.#store.approvals.decided(this.#model, key, json, columns, record, channel)),
        announced: channel !== undefined,
      };
    } catch (err) {
      if (channel === undefined || !notifyQueueFull(err)) throw err;
      return { ...(await this.#store.approvals.decided(this.#model, key, json, columns, record)), announced: false };
    }
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const key = keyFor(id, this.#model);
    if (this.#model === 'Session') {
      // The session's account comes with it, for the same request's `findAccount` and pages (oidc/handed-rows.ts).
      const row = await this.#store.oidc.findSession(key);
      if (row?.account) handSessionAccount(row.account);
      return hydrate(row, id);
    }
    return hydrate(takeHandedRow(this.#model, key) ?? (await this.#store.oidc.find(this.#model, key)), id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const hash = sha256(userCode);
    const row = takeHandedRowByUserCode(this.#model, hash) ?? (await this.#store.oidc.findByUserCode(this.#model, hash));
    return foundByUserCode(row, userCode);
  }

  /** Sessions by uid (read-only uses: interaction and token session binding); addressed by handle. */
  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const row = await this.#store.oidc.findByUid(this.#model, sha256(uid));
    return hydrate(row, `~${row?.key_hash}`);
  }

  /** Single conditional UPDATE: of many concurrent redemptions exactly one succeeds. */
  async consume(id: string): Promise<void> {
    const key = keyFor(id, this.#model);
    dropHandedRow(this.#model, key);
    const won = await this.#store.oidc.consume(this.#model, key);
    if (!won && GRANT_MODELS.has(this.#model)) throw new errors.InvalidGrant('grant request is invalid');
  }

  async destroy(id: string): Promise<void> {
    const key = keyFor(id, this.#model);
    dropHandedRow(this.#model, key);
    await this.#store.oidc.destroy(this.#model, key);
  }

  /** oidc-provider revokes a grant model by model (tokens deleted, codes marked consumed; the store's one rule). */
  async revokeByGrantId(grantId: string): Promise<void> {
    await this.#store.revokeGrant(grantId, [this.#model]);
  }
}

/** Clients live in their own table so the admin API can list them; the store caches them briefly. */
export class ClientAdapter implements Adapter {
  readonly #store: Store;
  constructor(store: Store) {
    this.#store = store;
  }
  /** A client that registered itself (RFC 7591) arrives with its new secret in clear: only its hash is stored. */
  async upsert(id: string, payload: AdapterPayload): Promise<void> {
    const secret = payload.client_secret;
    const stored =
      typeof secret === 'string' && !secret.startsWith('sha256:') ? { ...payload, client_secret: clientSecretHash(secret) } : payload;
    await this.#store.clients.upsert(id, stored);
  }
  find(id: string): Promise<AdapterPayload | undefined> {
    return this.#store.clients.find(id);
  }
  async findByUserCode(): Promise<undefined> {
    return undefined;
  }
  async findByUid(): Promise<undefined> {
    return undefined;
  }
  async consume(): Promise<void> {}
  async destroy(id: string): Promise<void> {
    await this.#store.clients.delete(id);
  }
  async revokeByGrantId(): Promise<void> {}
}
