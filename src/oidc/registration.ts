import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config, RegistrationPolicy } from '../config/schema.js';
import { addressKey } from '../http/address.js';
import { sha256 } from '../store/hash.js';
import type { Store } from '../store/index.js';

/**
 * Client self-registration, RFC 7591 (register) and RFC 7592 (read, update, delete with the registration access token),
 * as oidc-provider implements them (`features.registration`, `registrationManagement`). Registration is never
 * anonymous unless `registration.open` says so: every request carries an initial access token an operator issued
 * (admin API, CLI), and the token's policy decides what the client may be.
 *
 * The policy is applied inside the library, by its `policies` hook, which runs on the metadata the library itself
 * parsed and just before it records the client (on register and on every update): so no framing, spelling or
 * second reading of the request can step around it. On register, the token admits the client in one guarded
 * UPDATE (store/registrations.ts): `max_clients`, expiry and revocation are checked where the client is counted.
 *
 * What a policy does to a client's metadata ({@link applyPolicy}):
 * - `grant_types` must be among the policy's (absent: the policy's); `response_types` follow (`code` only with
 *   `authorization_code`); `scope` must be among the policy's scopes (absent: all of them); `public_only` keeps
 *   `token_endpoint_auth_method` at `none`; `device_flow_scopes` is the policy's, never the client's;
 * - Handoff's own settings (`qr_login`, `handoff_proximity`, `handoff_number_matching`) and how Handoff signs and
 *   encrypts what it sends the client (ID tokens, userinfo, introspection and authorization responses: every
 *   `*_signed_response_alg` and `*_encrypted_response_alg|enc` the library accepts) take Handoff's defaults
 *   unless the policy has `allow_choices`; `handoff_pkce_exempt` and `resource_server` are never granted to a
 *   registered client; `jwks_uri` and `sector_identifier_uri` are refused (they would make Handoff fetch any URL a
 *   registrant names: keys go inline in `jwks`);
 * - `handoff_registered: true` marks it, and every page that asks a person about it (the device confirmation, the
 *   desktop scan, consent) says that the app named itself and no one here checked who made it.
 *
 * Anonymous registration (`registration.open`, a policy, e.g. public device clients only): a request with no token
 * is given this instance's own open token (made at start, never shown), and is limited per address
 * (`registration.openPerAddress` an hour), counted in the same hook.
 */
export const REGISTRATION_POLICY = 'handoff';

/**
 * How Handoff signs and encrypts what it sends a client: every such field oidc-provider accepts (lib/helpers/
 * client_schema.js). The algorithms a client signs its own requests with (`request_object_signing_alg`,
 * `token_endpoint_auth_signing_alg`) are its own business and stay.
 */
const RESPONSE_ALGS = ['id_token', 'userinfo', 'introspection', 'authorization'].flatMap((what) => [
  `${what}_signed_response_alg`,
  `${what}_encrypted_response_alg`,
  `${what}_encrypted_response_enc`,
]);
/** What a registered client takes Handoff's defaults for unless its policy has `allow_choices`. */
const HANDOFF_CHOICES = ['qr_login', 'handoff_proximity', 'handoff_number_matching', ...RESPONSE_ALGS];
const NEVER_GRANTED = ['handoff_pkce_exempt', 'resource_server'] as const;
const NO_FETCHING = ['jwks_uri', 'sector_identifier_uri'] as const;

const refuse = (description: string) => new errors.InvalidClientMetadata(description);

/** A client's metadata made to fit a policy, or a refusal naming the first field that cannot (pure; unit-tested). */
export function applyPolicy(policy: RegistrationPolicy, properties: Record<string, unknown>): void {
  const grants = properties.grant_types === undefined ? [...policy.grant_types] : properties.grant_types;
  if (!Array.isArray(grants) || grants.length === 0) throw refuse('grant_types must be a non-empty array');
  for (const g of grants) {
    if (!(policy.grant_types as readonly unknown[]).includes(g))
      throw refuse(`grant type ${String(g)} is not allowed by this registration`);
  }
  properties.grant_types = grants;
  if (grants.includes('authorization_code')) {
    const responses = properties.response_types ?? ['code'];
    if (!Array.isArray(responses) || responses.some((r) => r !== 'code')) throw refuse('response_types may only be code');
    properties.response_types = responses;
  } else {
    if (Array.isArray(properties.response_types) && properties.response_types.length > 0)
      throw refuse('response_types must be empty without the authorization_code grant');
    properties.response_types = [];
  }
  if (policy.public_only) {
    if (properties.token_endpoint_auth_method !== undefined && properties.token_endpoint_auth_method !== 'none')
      throw refuse('only public clients (token_endpoint_auth_method none) may register with this token');
    properties.token_endpoint_auth_method = 'none';
  }
  const asked = properties.scope === undefined ? [...policy.scopes] : String(properties.scope).split(' ').filter(Boolean);
  for (const s of asked) if (!policy.scopes.includes(s)) throw refuse(`scope ${s} is not allowed by this registration`);
  properties.scope = asked.join(' ');
  if (policy.device_flow_scopes) properties.device_flow_scopes = [...policy.device_flow_scopes];
  else delete properties.device_flow_scopes;
  for (const key of NEVER_GRANTED) if (properties[key] === true) throw refuse(`${key} cannot be registered`);
  for (const key of NO_FETCHING) if (properties[key] !== undefined) throw refuse(`${key} is not accepted: give keys inline in jwks`);
  if (!policy.allow_choices) for (const key of HANDOFF_CHOICES) delete properties[key];
  // Marks the client as one that named itself: every page that asks a person about it says so.
  properties.handoff_registered = true;
}

export interface RegistrationDeps {
  config: Config;
  store: Store;
}

/** Names no registered app may take: Handoff's own, and the operator's apps' (compared without case or spaces). */
const squash = (name: unknown) =>
  String(name ?? '')
    .toLowerCase()
    .replace(/\s+/g, '');

/**
 * The `policies` hook oidc-provider calls before it records a registered or updated client (see above). On register:
 * the policy, a name that is not Handoff's or an operator app's, the library's own validation (so a refused client
 * spends nothing), then the per-address limit (open registration) and the token's count. On update (RFC 7592): the
 * policy, and nothing beyond what is registered now: grant types and scopes may only narrow, and Handoff's own
 * settings and its response algorithms keep their stored values (an operator may have tightened them; the client
 * cannot undo that).
 */
export function registrationPolicy(deps: RegistrationDeps) {
  const reservedName = async (name: unknown, self: string | undefined) => {
    const wanted = squash(name);
    if (!wanted) return;
    if (wanted.includes('handoff')) throw refuse('client_name may not name Handoff itself');
    for (const c of await deps.store.clients.list()) {
      if (c.client_id !== self && c.handoff_registered !== true && squash(c.client_name) === wanted)
        throw refuse('client_name is the name of another app here; choose your own');
    }
  };
  const noSecretForPublic = (properties: Record<string, unknown>) => {
    if (properties.token_endpoint_auth_method === 'none') {
      delete properties.client_secret;
      delete properties.client_secret_expires_at;
    }
  };
  return async (ctx: KoaContextWithOIDC, properties: Record<string, unknown>): Promise<void> => {
    const oidc = ctx.oidc;
    if (oidc.route === 'registration') {
      const iat = oidc.entities.InitialAccessToken as { jti?: string } | undefined;
      const tokenHash = sha256(String(iat?.jti ?? ''));
      const token = await deps.store.registrations.byHash(tokenHash);
      if (!token) throw new errors.InvalidToken('initial access token not found');
      // Anonymous registration follows the settings of now: off means off, whichever instance minted the token.
      const policy = token.kind === 'open' ? deps.config.registration.open : token.policy;
      if (!policy) throw new errors.InvalidToken('anonymous registration is turned off');
      applyPolicy(policy, properties);
      noSecretForPublic(properties);
      await reservedName(properties.client_name, undefined);
      await oidc.provider.Client.validate(properties as Parameters<typeof oidc.provider.Client.validate>[0]);
      if (token.kind === 'open') {
        const refused = await deps.store.counters.take([
          { bucket: 'register:open', key: addressKey(ctx.ip), windowSeconds: 3600, max: deps.config.registration.openPerAddress },
        ]);
        if (refused) {
          ctx.set('Retry-After', String(Math.max(1, Math.ceil(refused.retryAfter))));
          throw new errors.InvalidRequest('too many clients registered from this address; wait before registering another', 429);
        }
      }
      const admitted = await deps.store.registrations.admit(tokenHash, String(properties.client_id), ctx.ip);
      if (!admitted)
        throw new errors.InvalidToken('this initial access token is revoked, expired or has registered all the clients it may');
      return;
    }
    const client = oidc.client;
    const token = client ? await deps.store.registrations.ofClient(client.clientId) : undefined;
    if (!client || !token) throw new errors.InvalidRequest('this client was not registered with a token', 403);
    const stored = client.metadata() as Record<string, unknown>;
    applyPolicy(token.kind === 'open' ? (deps.config.registration.open ?? token.policy) : token.policy, properties);
    const storedGrants = (stored.grant_types ?? []) as string[];
    for (const g of properties.grant_types as string[])
      if (!storedGrants.includes(g)) throw refuse(`grant type ${g} is not registered for this client; an update may only narrow`);
    const storedScopes = String(stored.scope ?? '')
      .split(' ')
      .filter(Boolean);
    if (storedScopes.length && properties.scope === token.policy.scopes.join(' ') && !Object.hasOwn(ctx.oidc.body ?? {}, 'scope'))
      properties.scope = storedScopes.join(' ');
    for (const s of String(properties.scope).split(' ').filter(Boolean))
      if (storedScopes.length && !storedScopes.includes(s))
        throw refuse(`scope ${s} is not registered for this client; an update may only narrow`);
    for (const key of [...HANDOFF_CHOICES, 'device_flow_scopes']) {
      if (stored[key] === undefined) delete properties[key];
      else properties[key] = stored[key];
    }
    noSecretForPublic(properties);
    await reservedName(properties.client_name, client.clientId);
  };
}

/**
 * Anonymous registration's token: made once per start when `registration.open` is set, never shown; a registration
 * request that carries no token is given it (app.ts), and the policy hook limits such requests per address.
 */
export async function openRegistrationToken(store: Store, policy: RegistrationPolicy, mint: () => Promise<string>): Promise<string> {
  const value = await mint();
  await store.registrations.insert({
    id: `open-${sha256(value).slice(0, 12)}`,
    tokenHash: sha256(value),
    label: 'open registration',
    kind: 'open',
    policy,
    maxClients: null,
    expiresIn: null,
  });
  return value;
}
