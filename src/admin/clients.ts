import { randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import { badRequest, conflict, HttpError } from '../http/errors.js';
import { SECRET_HASH_PREFIX } from '../oidc/provider.js';
import type { Db } from '../storage/db.js';
import { isStorableText, sha256, toJsonb } from '../storage/hash.js';
import { forgetClient } from '../storage/oidc-adapter.js';

type Metadata = Record<string, unknown>;

const CLIENT_ID = /^[A-Za-z0-9._~-]{1,128}$/;

/** Public view of stored metadata: the secret's hash is internal. */
function publicView(metadata: Metadata): Metadata {
  const { client_secret: _secret, ...rest } = metadata;
  return rest;
}

/**
 * Registers a client from RFC 7591 metadata. The metadata is validated by oidc-provider itself, a secret is minted
 * for confidential clients and returned once, and only its SHA-256 is stored.
 */
export async function createClient(db: Db, provider: Provider, input: Metadata): Promise<Metadata> {
  const clientId = input.client_id ?? randomBytes(16).toString('base64url');
  if (typeof clientId !== 'string' || !CLIENT_ID.test(clientId)) {
    throw badRequest('client_id must be 1-128 characters of letters, digits and . _ ~ -', 'client_id');
  }
  if ('client_secret' in input) throw badRequest('client_secret is minted by Handoff; leave it out', 'client_secret');
  for (const key of ['registration_access_token', 'registration_client_uri', 'client_id_issued_at', 'client_secret_expires_at']) {
    if (key in input) throw badRequest(`${key} cannot be set`, key);
  }
  const confidential =
    (input.token_endpoint_auth_method ?? 'client_secret_basic') !== 'none' && input.token_endpoint_auth_method !== 'private_key_jwt';
  const secret = confidential ? randomBytes(32).toString('base64url') : undefined;
  const metadata: Metadata = {
    ...input,
    client_id: clientId,
    client_id_issued_at: Math.floor(Date.now() / 1000),
    ...(secret ? { client_secret: SECRET_HASH_PREFIX + sha256(secret) } : {}),
  };
  try {
    await provider.Client.validate(metadata as Parameters<Provider['Client']['validate']>[0]);
  } catch (err) {
    const e = err as { error?: string; error_description?: string; message?: string };
    throw new HttpError(400, e.error ?? 'invalid_client_metadata', e.error_description ?? 'client metadata is invalid');
  }
  const inserted = await db('clients')
    .insert({ client_id: clientId, metadata: toJsonb(metadata) })
    .onConflict('client_id')
    .ignore()
    .returning('client_id');
  if (inserted.length === 0) throw conflict(`client_id ${clientId} already exists`, 'client_id');
  forgetClient(clientId);
  return { ...publicView(metadata), ...(secret ? { client_secret: secret } : {}) };
}

export async function listClients(db: Db): Promise<Metadata[]> {
  const rows = await db('clients').select<{ metadata: Metadata }[]>('metadata').orderBy('created_at');
  return rows.map((r) => publicView(r.metadata));
}

/** Removes a client and everything issued to it (tokens, codes, grants). */
export async function deleteClient(db: Db, clientId: string): Promise<boolean> {
  if (!isStorableText(clientId)) return false;
  return db.transaction(async (trx) => {
    // RETURNING rather than the affected count: knex-pglite reports DELETE counts differently from pg.
    const gone = await trx('clients').delete().where({ client_id: clientId }).returning('client_id');
    forgetClient(clientId);
    if (gone.length === 0) return false;
    await trx('oidc_store').delete().whereRaw(`payload->>'clientId' = ?`, [clientId]);
    return true;
  });
}

export async function countClients(db: Db): Promise<number> {
  const r = await db('clients').count<{ n: string }[]>({ n: '*' });
  return Number(r[0]?.n ?? 0);
}
