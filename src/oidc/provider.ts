import type { JWK } from 'jose';
import Provider, {
  type Adapter,
  type CIBAEnabledConfiguration,
  type ClientAuthMethod,
  type Configuration,
  errors,
  type KoaContextWithOIDC,
  type SigningAlgorithm,
} from 'oidc-provider';
import type { Config } from '../config/schema.js';
import { CookieSigner } from '../http/cookie-signer.js';
import { PROXIMITIES } from '../http/address.js';
import { ACR_VALUES, crossDevice, interactionPolicyWithPhr } from './acr.js';
import { clientSecretMatches } from '../store/hash.js';
import type { Store } from '../store/index.js';
import { tFor } from '../views/context.js';
import { logoutPage, messagePage } from '../views/sign-in.js';
import { html } from '../views/html.js';
import type { MessageKey } from '../views/i18n.js';
import { findAccount } from './account.js';
import { createAdapterFactory } from './adapter.js';
import { corsAllowed } from './cors.js';
import { ACCOUNT_CLIENT_ID } from '../accounts/client.js';
import { SCOPES } from './scopes.js';
import { type Issue, overrideCibaGrant, overrideDeviceGrant } from './seams.js';
import { outgoing } from './outgoing.js';

/** oidc-provider's CIBA hooks, as ciba/backchannel.ts provides them. */
type CibaHooks = Omit<CIBAEnabledConfiguration, 'enabled' | 'deliveryModes'>;
import { REGISTRATION_POLICY } from './registration.js';

/** oidc-provider's device flow hooks (RFC 8628 3.3 pages), as device/verification.ts provides them. */
export type DevicePages = Pick<
  NonNullable<NonNullable<Configuration['features']>['deviceFlow']>,
  'userCodeInputSource' | 'userCodeConfirmSource' | 'successSource'
>;

export interface ProviderDeps {
  config: Config;
  store: Store;
  issuer: string;
  signingKeys: JWK[];
  cookieKeys: string[];
  devicePages: DevicePages;
  /** The device flow's rules around oidc-provider's device_code grant (device/token.ts). */
  deviceGrant: (ctx: KoaContextWithOIDC, issue: Issue) => Promise<void>;
  /** The cross-device rules of a device approval, checked as its grant is made (device/verification.ts). */
  approvalRules?: (ctx: KoaContextWithOIDC) => Promise<void>;
  /** Client self-registration's policy hook (oidc/registration.ts); without it registration is off. */
  registrationPolicy?: (ctx: KoaContextWithOIDC, properties: Record<string, unknown>) => Promise<void>;
  /** Backchannel approval (ciba/backchannel.ts): the library's hooks and the rules around its grant; without them, off. */
  ciba?: { hooks: CibaHooks; grant: (ctx: KoaContextWithOIDC, issue: () => Promise<void>) => Promise<void> } | undefined;
}

/** How clients authenticate at the token, revocation and introspection endpoints (no secret is ever a key). */
const CLIENT_AUTH_METHODS: ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'];
const CLIENT_AUTH_ALGS: SigningAlgorithm[] = ['ES256', 'RS256', 'PS256', 'EdDSA'];

/** The page message for an OAuth error code a relying party's request ended in. */
function protocolErrorKey(error: string, description: string): MessageKey {
  if (error === 'invalid_redirect_uri' || /redirect_uri/.test(description)) return 'error.oidc.redirect';
  if (error === 'invalid_client' || error === 'unauthorized_client') return 'error.oidc.client';
  if (error === 'access_denied') return 'error.oidc.denied';
  if (error === 'invalid_grant' || error === 'expired_login_hint_token' || /expired|not found/.test(description))
    return 'error.oidc.expired';
  return 'error.oidc.generic';
}

/**
 * Builds the oidc-provider instance. Everything it persists goes through the store's adapter, so a provider can be
 * rebuilt at any time (after a key rotation) without losing state.
 */
export function createProvider(deps: ProviderDeps): Provider {
  const provider = new Provider(
    deps.issuer,
    providerConfiguration({
      ...deps,
      adapter: createAdapterFactory(deps.store),
      findAccount: (ctx, sub) => findAccount(deps.store, sub, ctx.req),
      rememberedConsent: (accountId, clientId) => deps.store.consents.find(accountId, clientId),
    }),
  );
  overrideDeviceGrant(provider, deps.deviceGrant, (phone) => crossDevice(phone.amr));
  if (deps.ciba) overrideCibaGrant(provider, deps.ciba.grant);
  provider.proxy = deps.config.proxy;
  provider.maxIpsCount = deps.config.proxyHops;
  // Cookie signing keys are the Koa app's keys (newest first: signs with the first, verifies with all).
  provider.keys = new CookieSigner(deps.cookieKeys);
  // Secrets minted by the admin API are stored as SHA-256 hashes; compare hashes in constant time.
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
    return clientSecretMatches(this.clientSecret, actual);
  };
  return provider;
}

/**
 * The whole oidc-provider configuration. The benchmark's baselines reuse it with their own adapter (in-memory, or a
 * plain PostgreSQL one), so they differ from Handoff only in storage and what Handoff adds around the provider.
 */
export function providerConfiguration({
  config,
  issuer,
  signingKeys,
  devicePages,
  adapter,
  findAccount: find,
  rememberedConsent,
  approvalRules,
  registrationPolicy,
  ciba,
}: {
  config: Config;
  issuer: string;
  signingKeys: JWK[];
  devicePages: DevicePages;
  adapter: ((name: string) => Adapter) | undefined;
  findAccount: Configuration['findAccount'];
  /** The scopes an account allowed a client in an earlier session (store/consents.ts); none when absent. */
  rememberedConsent?: (accountId: string, clientId: string) => Promise<string[]>;
  /** Rules a device approval must meet, checked where its grant is made (throw oidc-provider's AccessDenied). */
  approvalRules?: ((ctx: KoaContextWithOIDC) => Promise<void>) | undefined;
  registrationPolicy?: ((ctx: KoaContextWithOIDC, properties: Record<string, unknown>) => Promise<void>) | undefined;
  ciba?: { hooks: CibaHooks } | undefined;
}): Configuration {
  const secure = issuer.startsWith('https:');
  const configuration: Configuration = {
    ...(adapter ? { adapter } : {}),
    // The one built-in client: our own account pages (accounts/routes.ts). Everything else comes from the admin API.
    clients: [
      {
        client_id: ACCOUNT_CLIENT_ID,
        client_name: 'Handoff account',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [`${issuer}/account/callback`],
        post_logout_redirect_uris: [`${issuer}/`],
      },
    ],
    findAccount: find,
    // How and when the user signed in (`auth_time`, RFC 8176 `amr`, `acr`) travel in every ID token: a relying party
    // can always tell a password from a scan approved on a phone signed in with one.
    claims: {
      acr: null,
      amr: null,
      sid: null,
      auth_time: null,
      iss: null,
      openid: ['sub', 'auth_time', 'amr', 'acr'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    scopes: SCOPES,
    // jose's JWK and oidc-provider's JWK type describe the same JSON object (RFC 7517) with different field unions.
    jwks: { keys: signingKeys as NonNullable<Configuration['jwks']>['keys'] },
    cookies: {
      long: { signed: true, secure, sameSite: 'lax' },
      short: { signed: true, secure, sameSite: 'lax' },
    },
    // Client secrets are stored hashed, so no algorithm may use a client secret as a key (HS*, client_secret_jwt).
    clientAuthMethods: CLIENT_AUTH_METHODS,
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256', 'RS256', 'EdDSA'],
      userinfoSigningAlgValues: ['ES256', 'RS256', 'EdDSA'],
      clientAuthSigningAlgValues: CLIENT_AUTH_ALGS,
      requestObjectSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      introspectionSigningAlgValues: ['ES256', 'RS256', 'EdDSA'],
      authorizationSigningAlgValues: ['ES256', 'RS256', 'EdDSA'],
    },
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      // RS256, the default of OpenID Connect Registration: a client that does not ask (go-oidc, most libraries) can
      // verify it. ES256 (about ten times cheaper to sign) and EdDSA are there for clients that ask.
      id_token_signed_response_alg: 'RS256',
    },
    // Browser calls are allowed from Handoff's own pages (the demo TV) and from the origins of a client's
    // registered redirect URIs (single-page apps); anything else is refused.
    clientBasedCORS: (_ctx, origin, client) => corsAllowed(issuer, origin, client.redirectUris ?? []),
    // A device's sign-in stands on its own: it must not end when the phone's browser session does. (Binding it to
    // that session, oidc-provider's default without offline_access, also let a poll landing between the code's save
    // and the session's save see a mismatch and fail for good.)
    // A desktop scan leaves the desktop no session (app.ts ends it), so what the scan issued stands on its own too.
    expiresWithSession(ctx, code) {
      const scanned = ctx.oidc.result?.handoff?.scan !== undefined;
      return code.kind !== 'DeviceCode' && !scanned && !code.scopes.has('offline_access');
    },
    // `qr_login: false` turns desktop scan-to-sign-in off for a client (on by default); `resource_server: true`
    // lets a confidential client introspect tokens issued to other clients (an API that accepts them);
    // `handoff_proximity` (off, warn, require) and `device_flow_scopes` are the cross-device policies (README);
    // `handoff_pkce_exempt: true` exempts one confidential client from PKCE (see `pkce` below);
    // `handoff_number_matching` turns number matching off for desktop scans (`false`) or on for device codes (`true`).
    extraClientMetadata: {
      properties: [
        'qr_login',
        'resource_server',
        'handoff_proximity',
        'device_flow_scopes',
        'handoff_pkce_exempt',
        'handoff_number_matching',
        'handoff_registered',
      ],
      validator(_ctx, key, value, metadata) {
        if (
          (key === 'qr_login' ||
            key === 'resource_server' ||
            key === 'handoff_pkce_exempt' ||
            key === 'handoff_number_matching' ||
            key === 'handoff_registered') &&
          value !== undefined &&
          typeof value !== 'boolean'
        ) {
          throw new errors.InvalidClientMetadata(`${key} must be a boolean`);
        }
        if (key === 'handoff_pkce_exempt' && value === true && (metadata.token_endpoint_auth_method ?? 'client_secret_basic') === 'none') {
          throw new errors.InvalidClientMetadata('handoff_pkce_exempt is only for a confidential client: a public client must use PKCE');
        }
        if (key === 'handoff_proximity' && value !== undefined && !(PROXIMITIES as readonly unknown[]).includes(value)) {
          throw new errors.InvalidClientMetadata(`handoff_proximity must be one of ${PROXIMITIES.join(', ')}`);
        }
        if (
          key === 'device_flow_scopes' &&
          value !== undefined &&
          !(
            Array.isArray(value) &&
            value.length > 0 &&
            value.every((s) => typeof s === 'string' && /^[\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(s))
          )
        ) {
          throw new errors.InvalidClientMetadata('device_flow_scopes must be a non-empty list of scope names');
        }
      },
    },
    responseTypes: ['code', 'none'],
    // Documented in the README: the largest N honoured in `Prefer: wait=N` on the device_code grant.
    // RFC 8414 clients read the revocation and introspection endpoints' methods from their own fields and assume
    // client_secret_basic when they are absent: list what those endpoints accept (the token endpoint's methods).
    discovery: {
      token_endpoint_prefer_wait_max: config.realtime.maxWaitSeconds,
      revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
      introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
      revocation_endpoint_auth_signing_alg_values_supported: CLIENT_AUTH_ALGS,
      introspection_endpoint_auth_signing_alg_values_supported: CLIENT_AUTH_ALGS,
    },
    // PKCE is required of every client (RFC 9700 2.1.1), but for a confidential client an operator explicitly exempted
    // (`handoff_pkce_exempt: true`), for libraries that cannot send it (passport-openidconnect): its client secret
    // still authenticates the code exchange, but a code stolen in its redirect can be injected into its session.
    pkce: { required: (_ctx, client) => client.metadata().handoff_pkce_exempt !== true || client.clientAuthMethod === 'none' },
    features: {
      devInteractions: { enabled: false },
      // A client revokes only its own tokens: revoking ends the whole grant, so another client must never be able to.
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      // A client introspects its own tokens; a client marked as a resource server (an API) introspects any.
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) =>
          token.clientId === client.clientId || (client.clientAuthMethod !== 'none' && client.metadata().resource_server === true),
      },
      // RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) with our own pages, in the reader's language.
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = logoutPage(tFor(ctx), {
            form,
            client: ctx.oidc.client?.clientId === ACCOUNT_CLIENT_ID ? undefined : ctx.oidc.client?.clientName,
          });
        },
        async postLogoutSuccessSource(ctx) {
          const t = tFor(ctx);
          ctx.type = 'html';
          ctx.body = messagePage({ title: t('logout.done.title'), message: t('logout.done.body'), status: 'success', lang: t('lang.tag') });
        },
      },
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        ...devicePages,
      },
      // OpenID CIBA Core 1.0, poll and ping: the phone is the authentication device (ciba/).
      ...(ciba ? { ciba: { enabled: true, deliveryModes: ['poll', 'ping'], ...ciba.hooks } } : {}),
      // RFC 7591/7592 with an initial access token whose policy is applied as the client is recorded
      // (oidc/registration.ts); registration access tokens rotate on every update.
      ...(registrationPolicy
        ? {
            registration: {
              enabled: true,
              initialAccessToken: true,
              policies: { [REGISTRATION_POLICY]: registrationPolicy },
              issueRegistrationAccessToken: true,
            },
            registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
          }
        : {}),
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
      policy: interactionPolicyWithPhr(),
    },
    acrValues: ACR_VALUES,
    ttl: {
      AccessToken: config.accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: config.idTokenTtl,
      DeviceCode: config.deviceCodeTtl,
      RefreshToken: config.refreshTokenTtl,
      Grant: config.refreshTokenTtl,
      // A session nobody signed in to (a phone that opened the code-entry page) lives as long as a sign-in may
      // take, not for days.
      Session: (_ctx, session) => (session.accountId ? config.sessionTtl : config.interactionTtl),
      Interaction: config.interactionTtl,
      BackchannelAuthenticationRequest: config.ciba.requestSeconds,
    },
    // What oidc-provider fetches: a CIBA ping to a client's notification endpoint (its only outgoing request here,
    // since registered clients cannot name jwks_uri or sector_identifier_uri).
    fetch: (url, options) => outgoing(issuer, url, options),
    // The account pages are first-party: signing in to them needs no consent screen. Each device approval gets a
    // grant of its own with exactly the scopes its decision page showed (approving is the consent), so revoking one
    // device never revokes another approved from the same phone.
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const oidc = ctx.oidc;
      const clientId = oidc.client?.clientId ?? '';
      if ((oidc.route === 'code_verification' || oidc.route === 'device_resume') && oidc.session?.accountId) {
        // The approval's rules (proximity, device scopes) are met here, where the grant that records it is made.
        await approvalRules?.(ctx);
        const grant = new oidc.provider.Grant({ clientId, accountId: oidc.session.accountId });
        const scopes = [...oidc.requestParamOIDCScopes];
        if (scopes.length) grant.addOIDCScope(scopes.join(' '));
        await grant.save();
        return grant;
      }
      const grantId = oidc.result?.consent?.grantId ?? oidc.session?.grantIdFor(clientId);
      if (grantId) return oidc.provider.Grant.find(grantId);
      // Consent given in an earlier session counts: a new grant with the remembered scopes this request asks for;
      // anything more is asked on the consent page, which adds it to what is remembered.
      const accountId = oidc.session?.accountId;
      if (accountId && rememberedConsent && clientId !== ACCOUNT_CLIENT_ID && (oidc.route === 'authorization' || oidc.route === 'resume')) {
        const allowed = new Set(await rememberedConsent(accountId, clientId));
        const scopes = [...oidc.requestParamOIDCScopes].filter((s) => allowed.has(s));
        if (scopes.length) {
          const grant = new oidc.provider.Grant({ clientId, accountId });
          grant.addOIDCScope(scopes.join(' '));
          await grant.save();
          return grant;
        }
      }
      if (clientId === ACCOUNT_CLIENT_ID && oidc.session?.accountId) {
        const grant = new oidc.provider.Grant({ clientId, accountId: oidc.session.accountId });
        grant.addOIDCScope('openid');
        await grant.save();
        return grant;
      }
      return undefined;
    },
    // A protocol error a person sees (a relying party sent them with a bad request, or a sign-in expired): what
    // happened in one sentence of their language, and a way onward.
    async renderError(ctx: KoaContextWithOIDC, out) {
      const t = tFor(ctx);
      ctx.type = 'html';
      ctx.body = messagePage({
        lang: t('lang.tag'),
        title: t('error.title.cannot'),
        message: t(protocolErrorKey(String(out.error), String(out.error_description ?? ''))),
        status: 'error',
        // The protocol's own error code, for the app's makers and support: in the page, not in the reader's text.
        extra: html`<span hidden data-field="protocol-error" data-code="${String(out.error)}"></span>`,
        next: [{ href: '/', label: t('next.home') }],
      });
    },
  };

  return configuration;
}
