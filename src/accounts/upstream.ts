import { randomUUID } from 'node:crypto';
import type * as Oidc from 'openid-client';
import type { Config } from '../config/schema.js';
import { badRequest, HttpError } from '../http/errors.js';
import { seal, unseal } from '../http/secrets.js';
import type { MessageKey } from '../views/i18n.js';
import type { IdentityProviderRow } from '../store/identity-providers.js';
import type { Store } from '../store/index.js';

/**
 * Upstream OpenID Providers: signing in to Handoff with an account people already have (Google Workspace, Entra ID,
 * Okta, another Handoff). Handoff is an ordinary relying party of the upstream, through `openid-client` (the
 * certified relying-party library by oidc-provider's author): authorization code with PKCE, `state` and `nonce`,
 * and the ID token checked against the upstream's published keys, issuer, audience and nonce.
 *
 * Accounts are keyed on (upstream, `sub`), never on an email address alone. The first sign-in of a subject makes an
 * account (unless the operator allows only accounts linked beforehand); an upstream's `email` joins an existing
 * account only when the upstream says `email_verified`, the operator turned that on for the upstream, and the
 * account's own address was verified (so nobody can pre-register a victim's address and wait). Everything else is
 * linked by the user, from the account page, after a fresh sign-in.
 *
 * The upstream's tokens are used for the sign-in and then dropped, unless the operator turned `keep_tokens` on for
 * the upstream: then the latest sign-in's access token, refresh token and expiry are kept on the link, sealed
 * (AES-256-GCM under a key derived from the cookie keys, never in clear), replaced at each sign-in and deleted with
 * the link.
 */

/** An upstream as the code uses it: from the settings file (read-only) or added through the admin API. */
export interface Upstream {
  id: string;
  name: string;
  issuer: string;
  clientId: string;
  clientSecret: string | null;
  scopes: string[];
  enabled: boolean;
  createAccounts: boolean;
  linkVerifiedEmail: boolean;
  keepTokens: boolean;
  /** `settings`: from the settings file, changed only there; `admin`: added through the admin API or the CLI. */
  source: 'settings' | 'admin';
  updatedAt: string;
}

export const UPSTREAM_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** `amr` of a federated sign-in (as Entra ID and others write it), before what the upstream itself asserted. */
export const AMR_FEDERATED = 'fed';

export function fromRow(row: IdentityProviderRow): Upstream {
  return {
    id: row.id,
    name: row.name,
    issuer: row.issuer,
    clientId: row.client_id,
    clientSecret: row.client_secret,
    scopes: row.scopes,
    enabled: row.enabled,
    createAccounts: row.create_accounts,
    linkVerifiedEmail: row.link_verified_email,
    keepTokens: row.keep_tokens,
    source: 'admin',
    updatedAt: String(row.updated_at),
  };
}

export function fromSettings(entry: Config['identityProviders'][number]): Upstream {
  return {
    id: entry.id,
    name: entry.name,
    issuer: entry.issuer,
    clientId: entry.client_id,
    clientSecret: entry.client_secret ?? null,
    scopes: entry.scopes,
    enabled: entry.enabled,
    createAccounts: entry.create_accounts,
    linkVerifiedEmail: entry.link_verified_email,
    keepTokens: entry.keep_tokens,
    source: 'settings',
    updatedAt: 'settings',
  };
}

/** What an admin or the CLI sees of an upstream: never its client secret, always the redirect URI to register. */
export function publicView(u: Upstream, issuer: string) {
  return {
    id: u.id,
    name: u.name,
    issuer: u.issuer,
    client_id: u.clientId,
    client_secret_set: u.clientSecret !== null,
    scopes: u.scopes,
    enabled: u.enabled,
    create_accounts: u.createAccounts,
    link_verified_email: u.linkVerifiedEmail,
    keep_tokens: u.keepTokens,
    source: u.source,
    redirect_uri: callbackUrl(issuer, u.id),
  };
}

/** The redirect URI to register at the upstream. */
export const callbackUrl = (issuer: string, id: string) => `${issuer}/login/${id}/callback`;

/** Plain http is for an upstream on this machine only (development and tests); anything else must be https. */
export function issuerAllowed(issuer: string): boolean {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return false;
  }
  if (url.search || url.hash || url.username || url.password) return false;
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

/** The upstreams Handoff knows: the settings file's, then those added through the admin API (ids never collide). */
export function upstreams(config: Config, store: Store) {
  const settings = config.identityProviders.map(fromSettings);
  return {
    async list(): Promise<Upstream[]> {
      return [...settings, ...(await store.identityProviders.list()).map(fromRow)];
    },
    async enabled(): Promise<Upstream[]> {
      return (await this.list()).filter((u) => u.enabled);
    },
    async find(id: string): Promise<Upstream | undefined> {
      const fromFile = settings.find((u) => u.id === id);
      if (fromFile) return fromFile;
      if (!UPSTREAM_ID.test(id)) return undefined;
      const row = await store.identityProviders.find(id);
      return row ? fromRow(row) : undefined;
    },
    inSettings: (id: string) => settings.some((u) => u.id === id),
  };
}
export type Upstreams = ReturnType<typeof upstreams>;

/** A readable refusal of an upstream round trip: a 4xx page (never a 5xx, whatever the upstream did). */
export function upstreamRefusal(key: MessageKey, name: string, why: string, next?: { href: string; key: MessageKey }): HttpError {
  return new HttpError(400, 'upstream_refused', why, { key, vars: { name }, ...(next ? { next } : {}) });
}

let library: Promise<typeof Oidc> | undefined;
/** openid-client is loaded at the first upstream sign-in, not at start (most deployments have no upstream). */
export const oidcClient = () => {
  library ??= import('openid-client');
  return library;
};

/**
 * The upstream's discovered configuration, kept a few minutes per upstream and version (a change through the admin
 * API or a new signing key upstream is picked up within that time). A failed discovery is not kept.
 */
const DISCOVERY_MS = 5 * 60 * 1000;
const discovered = new Map<string, { at: number; config: Promise<Oidc.Configuration> }>();

export async function configurationOf(u: Upstream, issuer: string): Promise<Oidc.Configuration> {
  const key = `${u.id}\u0000${u.updatedAt}\u0000${u.issuer}\u0000${u.clientId}`;
  const known = discovered.get(key);
  if (known && Date.now() - known.at < DISCOVERY_MS) return known.config;
  const client = await oidcClient();
  const config = client.discovery(
    new URL(u.issuer),
    u.clientId,
    { redirect_uris: [callbackUrl(issuer, u.id)], response_types: ['code'] },
    u.clientSecret === null ? client.None() : client.ClientSecretPost(u.clientSecret),
    {
      timeout: 10,
      // The ID token's signature is checked against the upstream's published keys, not only taken on the strength of
      // the TLS connection it came over (OpenID Connect Core 3.1.3.7 allows that; Handoff does not rely on it).
      execute: [client.enableNonRepudiationChecks, ...(u.issuer.startsWith('http:') ? [client.allowInsecureRequests] : [])],
    },
  );
  if (discovered.size > 100) discovered.clear();
  discovered.set(key, { at: Date.now(), config });
  config.catch(() => discovered.delete(key));
  return config;
}

/**
 * Whether a failed call to the upstream is the upstream not answering (no connection, a reset, the time limit), not
 * an answer that was refused: fetch fails with a TypeError "fetch failed" (its cause names the socket error), and
 * the time limit aborts it with a TimeoutError.
 */
export function unreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === 'TimeoutError' || err.name === 'AbortError' || (err instanceof TypeError && err.message === 'fetch failed');
}

/** What Handoff takes from a verified ID token. */
export interface Asserted {
  sub: string;
  email: string | undefined;
  emailVerified: boolean;
  name: string | undefined;
  preferredUsername: string | undefined;
  amr: string[];
}

const printable = (v: unknown, max: number): string | undefined =>
  typeof v === 'string' && v.length > 0 && v.length <= max && !/[\u0000-\u001f\u007f]/.test(v) ? v : undefined;

export function asserted(claims: Record<string, unknown>): Asserted {
  const sub = printable(claims.sub, 255);
  if (!sub) throw badRequest('the upstream sent no usable sub');
  const email = printable(claims.email, 254);
  return {
    sub,
    email: email && /^[^\s@<>"]{1,64}@[^\s@<>"]{1,189}$/.test(email) ? email : undefined,
    // Only the JSON boolean true counts (some upstreams send "true" as a string; that is not a verification).
    emailVerified: claims.email_verified === true,
    name: printable(claims.name, 200),
    preferredUsername: printable(claims.preferred_username, 200),
    amr: (Array.isArray(claims.amr) ? claims.amr : [])
      .filter((v): v is string => typeof v === 'string' && /^[A-Za-z0-9_.-]{1,32}$/.test(v))
      .slice(0, 8),
  };
}

/**
 * The session's `amr`: `fed`, then what the upstream asserted (RFC 8176 values as the upstream wrote them). The
 * upstream's words never make the session a Handoff passkey sign-in (accounts/passkeys.ts reads `fed` first).
 */
export const federatedAmr = (a: Asserted) => [AMR_FEDERATED, ...a.amr.filter((v) => v !== AMR_FEDERATED)];

/** A username for an account made from an upstream: its `preferred_username` or the address's local part, made unique. */
export function usernameCandidates(a: Asserted, upstreamId: string): string[] {
  const raw = a.preferredUsername ?? a.email?.split('@')[0] ?? a.name ?? '';
  let base = raw
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9._@-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 48);
  if (!base) base = `${upstreamId}-user`;
  const suffix = () => String(Math.floor(1000 + Math.random() * 9000));
  return [
    base,
    `${base}-${suffix()}`,
    `${base}-${suffix()}`,
    `${base}-${suffix()}${suffix()}`,
    `${upstreamId}-${randomUUID().slice(0, 8)}`,
  ];
}

/** The upstream's tokens as kept on a link: what a later call to the upstream on the person's behalf needs. */
export interface KeptTokens {
  access_token: string;
  refresh_token?: string;
  /** Seconds since the epoch, when the upstream said how long the access token lasts. */
  expires_at?: number;
}

/** Larger tokens are not kept (no upstream sends such; a row should not carry whatever a hostile one sends). */
const KEPT_MAX = 32 * 1024;

/**
 * The tokens of a sign-in, sealed for the link, when the upstream's `keep_tokens` asks for them; null otherwise (the
 * link then keeps none, and a sign-in after the setting went off drops what an earlier one kept).
 */
export function tokensToKeep(
  u: Upstream,
  roots: string[],
  tokens: { access_token?: string; refresh_token?: string; expires_in?: number },
): string | null {
  if (!u.keepTokens || !tokens.access_token) return null;
  const kept: KeptTokens = {
    access_token: tokens.access_token,
    ...(tokens.refresh_token ? { refresh_token: tokens.refresh_token } : {}),
    ...(typeof tokens.expires_in === 'number' ? { expires_at: Math.floor(Date.now() / 1000) + tokens.expires_in } : {}),
  };
  const text = JSON.stringify(kept);
  return text.length > KEPT_MAX ? null : seal(roots, 'upstream-tokens', text);
}

/** The tokens kept on a link, opened; undefined when none, or sealed under cookie keys no longer kept. */
export function keptTokens(roots: string[], sealed: string | null): KeptTokens | undefined {
  const text = sealed ? unseal(roots, 'upstream-tokens', sealed, 2 * KEPT_MAX) : undefined;
  return text ? (JSON.parse(text) as KeptTokens) : undefined;
}

/**
 * The Handoff account an upstream subject signs in to, making or linking it as the upstream's settings allow:
 * 1. the account already linked to (upstream, sub);
 * 2. with linking by verified email on: the one account whose own address is verified and equals the upstream's
 *    verified `email`, which gets linked;
 * 3. with `create_accounts`: a new account (no password), linked;
 * otherwise none. Linking is one statement keyed on (upstream, sub), so two sign-ins at once end on one account.
 * `tokens`: the sign-in's tokens, sealed, to keep on the link (or null).
 *
 * A new account's address is verified when the upstream says so, unless another account already has it verified:
 * the upstream's word does not make a second confirmed copy of someone's address (which would take "Forgot
 * password" and linking by verified email away from its owner, and hand the address to relying parties as this
 * account's). The address is still kept, unconfirmed, so the person sees it; it counts for nothing, and confirming
 * it by mail only tells the owner they already have an account.
 */
export async function accountFor(
  store: Store,
  u: Upstream,
  a: Asserted,
  tokens: string | null,
): Promise<{ accountId: string; created: boolean } | undefined> {
  const linked = await store.identityProviders.link(u.id, a.sub);
  if (linked) {
    await store.identityProviders.touchLink(u.id, a.sub, a.email ?? null, tokens);
    return { accountId: linked.account_id, created: false };
  }
  if (u.linkVerifiedEmail && a.email && a.emailVerified) {
    const user = await store.users.byVerifiedEmail(a.email);
    if (user) {
      if (await store.identityProviders.addLink({ providerId: u.id, subject: a.sub, accountId: user.id, email: a.email, tokens }))
        return { accountId: user.id, created: false };
      const raced = await store.identityProviders.link(u.id, a.sub);
      return raced ? { accountId: raced.account_id, created: false } : undefined;
    }
  }
  if (!u.createAccounts) return undefined;
  for (const username of usernameCandidates(a, u.id)) {
    const user = await store.users.insert({
      id: randomUUID(),
      username,
      passwordHash: null,
      name: a.name ?? null,
      email: a.email ?? null,
      emailVerified: a.emailVerified ? 'unless-claimed' : false,
    });
    if (!user) continue;
    if (await store.identityProviders.addLink({ providerId: u.id, subject: a.sub, accountId: user.id, email: a.email ?? null, tokens }))
      return { accountId: user.id, created: true };
    // Another sign-in of the same subject linked first: this account was never used; the other one is the account.
    await store.users.delete(user.id);
    const raced = await store.identityProviders.link(u.id, a.sub);
    return raced ? { accountId: raced.account_id, created: false } : undefined;
  }
  return undefined;
}

/** "Continue with …" buttons of a sign-in page: one form per enabled upstream, posting to the round trip's start. */
export async function upstreamButtons(list: Upstreams, uid: string): Promise<Array<{ id: string; name: string; action: string }>> {
  return (await list.enabled()).map((u) => ({
    id: u.id,
    name: u.name,
    action: `/interaction/${encodeURIComponent(uid)}/upstream/${encodeURIComponent(u.id)}`,
  }));
}
