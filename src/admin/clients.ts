import { randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import { badRequest, conflict, HttpError } from '../http/errors.js';
import { clientSecretHash } from '../store/hash.js';
import type { Store } from '../store/index.js';

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
export async function createClient(store: Store, provider: Provider, input: Metadata): Promise<Metadata> {
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
    ...(secret ? { client_secret: clientSecretHash(secret) } : {}),
  };
  await validated(provider, metadata);
  if (!(await store.clients.insert(clientId, metadata))) throw conflict(`client_id ${clientId} already exists`, 'client_id');
  return { ...publicView(metadata), ...(secret ? { client_secret: secret } : {}) };
}

const SERVER_SET = [
  'client_id',
  'client_secret',
  'registration_access_token',
  'registration_client_uri',
  'client_id_issued_at',
  'client_secret_expires_at',
];

/** A CIBA ping goes to loopback only in a local trial (oidc/provider.ts `outgoing` refuses it otherwise too). */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
function notificationEndpointAllowed(issuer: string, metadata: Metadata): void {
  const endpoint = metadata.backchannel_client_notification_endpoint;
  if (typeof endpoint !== 'string') return;
  let host: string;
  try {
    host = new URL(endpoint).hostname;
  } catch {
    return; // the library names a malformed one
  }
  if (LOOPBACK.has(host) && !LOOPBACK.has(new URL(issuer).hostname))
    throw badRequest(
      'backchannel_client_notification_endpoint may be on loopback only when the issuer is',
      'backchannel_client_notification_endpoint',
    );
}

async function validated(provider: Provider, metadata: Metadata): Promise<void> {
  notificationEndpointAllowed(provider.issuer, metadata);
  try {
    await provider.Client.validate(metadata as Parameters<Provider['Client']['validate']>[0]);
  } catch (err) {
    const e = err as { error?: string; error_description?: string };
    throw new HttpError(400, e.error ?? 'invalid_client_metadata', e.error_description ?? 'client metadata is invalid');
  }
}

/**
 * Changes a client's metadata: the given fields replace the stored ones (`null` removes one), validated by
 * oidc-provider as a whole. Identity and secret are not changed here (see {@link rotateClientSecret}).
 */
export async function updateClient(store: Store, provider: Provider, id: string, change: Metadata): Promise<Metadata> {
  const current = await store.clients.find(id);
  if (!current) throw new HttpError(404, 'not_found', 'no such client');
  for (const key of SERVER_SET) if (key in change) throw badRequest(`${key} cannot be changed here`, key);
  const metadata: Metadata = { ...current };
  for (const [key, value] of Object.entries(change)) {
    if (value === null) delete metadata[key];
    else metadata[key] = value;
  }
  const confidential =
    (metadata.token_endpoint_auth_method ?? 'client_secret_basic') !== 'none' && metadata.token_endpoint_auth_method !== 'private_key_jwt';
  if (confidential && !metadata.client_secret)
    throw badRequest('a confidential client needs a secret: use clients rotate-secret after changing it', 'token_endpoint_auth_method');
  await validated(provider, metadata);
  if (!(await store.clients.replace(id, metadata))) throw new HttpError(404, 'not_found', 'no such client');
  return publicView(metadata);
}

/** A new secret for a confidential client, returned once; the old one stops working at once. */
export async function rotateClientSecret(store: Store, id: string): Promise<Metadata> {
  const current = await store.clients.find(id);
  if (!current) throw new HttpError(404, 'not_found', 'no such client');
  const method = current.token_endpoint_auth_method ?? 'client_secret_basic';
  if (method === 'none' || method === 'private_key_jwt') throw badRequest(`a ${method} client has no secret`, 'token_endpoint_auth_method');
  const secret = randomBytes(32).toString('base64url');
  const metadata = { ...current, client_secret: clientSecretHash(secret) };
  if (!(await store.clients.replace(id, metadata))) throw new HttpError(404, 'not_found', 'no such client');
  return { ...publicView(metadata), client_secret: secret };
}

/** Every client; one that registered itself (RFC 7591) says which token registered it, from where and when. */
export async function listClients(store: Store): Promise<Metadata[]> {
  const registeredBy = await store.registrations.registeredBy();
  return (await store.clients.list()).map((c) => {
    const by = registeredBy.get(String(c.client_id));
    return { ...publicView(c), ...(by ? { registered_by: by } : {}) };
  });
}
