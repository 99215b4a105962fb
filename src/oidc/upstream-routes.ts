import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Config } from '../config/schema.js';
import { addressKey } from '../http/address.js';
import { readForm } from '../http/body.js';
import { checkCsrf } from '../http/csrf.js';
import { HttpError } from '../http/errors.js';
import { take } from '../http/limits.js';
import { seal, unseal } from '../http/secrets.js';
import { signedInUser } from '../http/session.js';
import { audit } from '../ops/audit.js';
import { ACR_PASSWORD, PHR_REQUIRED } from './acr.js';
import { loadInteraction } from './interactions.js';
import { safeEqual, sha256 } from '../store/hash.js';
import type { Store } from '../store/index.js';
import type { MessageKey } from '../views/i18n.js';
import { freshEnough, freshSignInUrl } from '../accounts/sessions.js';
import {
  accountFor,
  asserted,
  callbackUrl,
  configurationOf,
  federatedAmr,
  oidcClient,
  tokensToKeep,
  type Upstream,
  type Upstreams,
  unreachable,
  upstreamRefusal,
} from '../accounts/upstream.js';

/**
 * The upstream round trip over HTTP (accounts/upstream.ts says what it decides):
 *
 * 1. `POST /interaction/:uid/upstream/:id` ("Continue with …" on a sign-in page), or `POST /account/links/:id`
 *    (linking from the account page, after a fresh sign-in): a `state`, a `nonce` and a PKCE verifier are made; the
 *    row of `state`'s hash records what the round trip is for; the three secrets go into this browser's sealed cookie
 *    (AES-GCM, never stored); the browser goes to the upstream.
 * 2. `GET /login/:id/callback`: the cookie's `state` must equal the answer's, the row is taken once, the code is
 *    exchanged and the ID token verified, and the account is found, linked or made.
 * 3. `GET /interaction/:uid/upstream`: under the interaction's own path (where oidc-provider's interaction cookie is
 *    sent), the verified result of this browser is taken once and the sign-in continues as a password or passkey
 *    sign-in would: a device code, a desktop scan or a relying party's request goes on where it left off.
 */
export interface UpstreamRouteDeps {
  config: Config;
  store: Store;
  issuer: string;
  provider: () => Provider;
  secrets: () => string[];
  upstreams: Upstreams;
}

const COOKIE = 'handoff_upstream';
/** How long a round trip may take, upstream sign-in included. */
const ROUND_TRIP_SECONDS = 600;
/** Round trips one address may start per minute: well above what people do, well below a flood of rows. */
const STARTS_PER_MINUTE = 30;

interface Trip {
  /** `state`, `nonce`, PKCE verifier. */
  s: string;
  n: string;
  v: string;
  /** Upstream id, purpose, what the round trip is bound to (interaction uid or session uid). */
  p: string;
  k: 'interaction' | 'link';
  b: string;
}

export function upstreamRoutes(deps: UpstreamRouteDeps): Router {
  const router = new Router();
  const secure = deps.issuer.startsWith('https:');

  const readTrip = (ctx: Context): Trip | undefined => {
    const sealed = ctx.cookies.get(COOKIE);
    const text = sealed ? unseal(deps.secrets(), 'upstream', sealed, 1024) : undefined;
    if (!text) return undefined;
    try {
      const t = JSON.parse(text) as Trip;
      return typeof t.s === 'string' && typeof t.b === 'string' ? t : undefined;
    } catch {
      return undefined;
    }
  };
  const clearTrip = (ctx: Context) => ctx.cookies.set(COOKIE, null, { path: '/', httpOnly: true, sameSite: 'lax', secure });
  const writeTrip = (ctx: Context, trip: Trip) =>
    ctx.cookies.set(COOKIE, seal(deps.secrets(), 'upstream', JSON.stringify(trip)), {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure,
      maxAge: ROUND_TRIP_SECONDS * 1000,
    });

  /** A form of the account page: a signed-in browser and its CSRF token, or a readable 401/403. */
  const accountForm = async (ctx: Context) => {
    const who = await signedInUser(ctx, deps.provider());
    if (!who) throw new HttpError(401, 'login_required', 'Sign in again to manage your devices.', { key: 'error.accountSignIn' });
    const form = await readForm(ctx, deps.config.bodyLimitBytes);
    checkCsrf(deps.secrets(), form.csrf, ['devices', who.sessionUid]);
    return who;
  };

  async function begin(ctx: Context, u: Upstream, purpose: 'interaction' | 'link', boundTo: string): Promise<void> {
    await take(deps.store, [
      {
        bucket: 'upstream:address',
        key: addressKey(ctx.ip),
        windowSeconds: 60,
        max: STARTS_PER_MINUTE,
        refusal: { description: 'too many sign-ins started; wait a minute' },
      },
    ]);
    const client = await oidcClient();
    let config: Awaited<ReturnType<typeof configurationOf>>;
    try {
      config = await configurationOf(u, deps.issuer);
    } catch {
      throw upstreamRefusal('upstream.unreachable', u.name, `upstream ${u.id} could not be reached`, backTo(purpose, boundTo));
    }
    const trip: Trip = {
      s: client.randomState(),
      n: client.randomNonce(),
      v: client.randomPKCECodeVerifier(),
      p: u.id,
      k: purpose,
      b: boundTo,
    };
    await deps.store.identityProviders.begin({
      stateHash: sha256(trip.s),
      providerId: u.id,
      purpose,
      boundTo,
      seconds: ROUND_TRIP_SECONDS,
    });
    writeTrip(ctx, trip);
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: callbackUrl(deps.issuer, u.id),
      response_type: 'code',
      scope: u.scopes.join(' '),
      state: trip.s,
      nonce: trip.n,
      code_challenge: await client.calculatePKCECodeChallenge(trip.v),
      code_challenge_method: 'S256',
    });
    ctx.status = 303;
    ctx.redirect(url.href);
  }

  const enabledUpstream = async (id: string) => {
    const u = await deps.upstreams.find(id);
    if (!u?.enabled) throw new HttpError(404, 'not_found', 'no such identity provider', { key: 'upstream.unknown' });
    return u;
  };

  router.post('/interaction/:uid/upstream/:id', async (ctx) => {
    const d = await loadInteraction(ctx, deps.provider());
    const form = await readForm(ctx, deps.config.bodyLimitBytes);
    checkCsrf(deps.secrets(), form.csrf, ['interaction', d.uid]);
    if (d.prompt.name !== 'login' || d.prompt.reasons.includes(PHR_REQUIRED))
      throw new HttpError(400, 'invalid_request', 'This step is not available now.', { key: 'error.step' });
    await begin(ctx, await enabledUpstream(ctx.params.id ?? ''), 'interaction', d.uid);
  });

  router.post('/account/links/:id', async (ctx) => {
    const who = await accountForm(ctx);
    // Linking adds a way to sign in: like adding a passkey, it takes a fresh sign-in (a passkey one if there is one).
    const hasPasskey = (await deps.store.passkeys.list(who.accountId)).length > 0;
    if (!freshEnough(deps.config, who, hasPasskey)) {
      ctx.status = 303;
      ctx.redirect(freshSignInUrl('/account/devices'));
      return;
    }
    await begin(ctx, await enabledUpstream(ctx.params.id ?? ''), 'link', who.sessionUid);
  });

  router.post('/account/links/:id/remove', async (ctx) => {
    const who = await accountForm(ctx);
    const id = ctx.params.id ?? '';
    const links = await deps.store.identityProviders.linksOf(who.accountId);
    if (!links.some((l) => l.provider_id === id)) {
      ctx.status = 303;
      ctx.redirect('/account/devices');
      return;
    }
    // Unlinking needs another way to sign in: a password, a passkey or another linked upstream.
    const other =
      links.length > 1 || (await deps.store.users.hasPassword(who.accountId)) || (await deps.store.passkeys.list(who.accountId)).length > 0;
    const name = (await deps.upstreams.find(id))?.name ?? id;
    if (!other)
      throw upstreamRefusal('upstream.lastWay', name, 'the only way to sign in cannot be unlinked', {
        href: '/account/devices',
        key: 'next.devices',
      });
    await deps.store.identityProviders.removeLink(who.accountId, id);
    await audit(deps.store, { action: 'account.upstream.unlinked', accountId: who.accountId, actorIp: ctx.ip, detail: { provider: id } });
    ctx.status = 303;
    ctx.redirect('/account/devices?done=unlinked');
  });

  router.get('/login/:id/callback', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const id = ctx.params.id ?? '';
    const known = await deps.upstreams.find(id);
    const name = known?.name ?? id.slice(0, 32);
    const trip = readTrip(ctx);
    const state = typeof ctx.query.state === 'string' ? ctx.query.state : '';
    // The answer must come back to the browser that left, for the round trip it left on (login CSRF: someone
    // else's answer pushed into this browser finds no matching cookie and takes nothing).
    if (!trip || trip.p !== id || !safeEqual(state, trip.s))
      throw upstreamRefusal('upstream.expired', name, 'no round trip of this browser matches this answer', { href: '/', key: 'next.home' });
    const back = backTo(trip.k, trip.b);
    const stateHash = sha256(trip.s);
    const row = await deps.store.identityProviders.claim(stateHash, id);
    clearTrip(ctx);
    if (!row) throw upstreamRefusal('upstream.expired', name, 'this answer was already used or came too late', back);
    const refuse = async (key: MessageKey, why: string) => {
      await deps.store.identityProviders.drop(stateHash);
      return upstreamRefusal(key, name, why, back);
    };
    if (!known?.enabled) throw await refuse('upstream.disabled', `upstream ${id} is disabled`);
    if (typeof ctx.query.error === 'string') throw await refuse('upstream.declined', 'the upstream answered with an error');

    let config: Awaited<ReturnType<typeof configurationOf>>;
    try {
      config = await configurationOf(known, deps.issuer);
    } catch {
      throw await refuse('upstream.unreachable', `upstream ${id} could not be reached`);
    }
    const client = await oidcClient();
    let claims: Record<string, unknown>;
    // The upstream's tokens, sealed, when its `keep_tokens` asks for them; otherwise they go with this request.
    let kept: string | null = null;
    try {
      const tokens = await client.authorizationCodeGrant(config, new URL(`${callbackUrl(deps.issuer, id)}${ctx.search}`), {
        pkceCodeVerifier: trip.v,
        expectedState: trip.s,
        expectedNonce: trip.n,
        idTokenExpected: true,
      });
      claims = (tokens.claims() ?? {}) as Record<string, unknown>;
      kept = tokensToKeep(known, deps.secrets(), tokens);
      // An upstream that follows OpenID Connect Core 5.4 closely puts only `sub` in the ID token and the rest at
      // userinfo: asked for with the access token just received, for the same subject (checked by the library).
      const sub = typeof claims.sub === 'string' ? claims.sub : '';
      if (sub && claims.email === undefined && tokens.access_token && config.serverMetadata().userinfo_endpoint)
        claims = { ...(await client.fetchUserInfo(config, tokens.access_token, sub)), ...claims };
    } catch (err) {
      // The upstream gone quiet after the person left for it (its token, keys or userinfo endpoint) is not a bad answer.
      if (unreachable(err)) throw await refuse('upstream.unreachable', `upstream ${id} could not be reached`);
      const code = (err as { code?: unknown }).code;
      throw await refuse('upstream.failed', `the upstream's answer was refused (${typeof code === 'string' ? code : 'invalid'})`);
    }
    let who: ReturnType<typeof asserted>;
    try {
      who = asserted(claims);
    } catch {
      throw await refuse('upstream.failed', 'the ID token has no usable subject');
    }

    if (trip.k === 'link') {
      const me = await signedInUser(ctx, deps.provider());
      if (!me || me.sessionUid !== trip.b) throw await refuse('upstream.expired', 'the session that started linking is gone');
      const added = await deps.store.identityProviders.addLink({
        providerId: id,
        subject: who.sub,
        accountId: me.accountId,
        email: who.email ?? null,
        tokens: kept,
      });
      const existing = added ? undefined : await deps.store.identityProviders.link(id, who.sub);
      if (existing?.account_id === me.accountId) await deps.store.identityProviders.touchLink(id, who.sub, who.email ?? null, kept);
      await deps.store.identityProviders.drop(stateHash);
      if (!added && existing?.account_id !== me.accountId)
        throw upstreamRefusal(
          existing ? 'upstream.linkedElsewhere' : 'upstream.alreadyLinked',
          name,
          'this upstream account cannot be linked here',
          back,
        );
      if (added)
        await audit(deps.store, { action: 'account.upstream.linked', accountId: me.accountId, actorIp: ctx.ip, detail: { provider: id } });
      ctx.status = 303;
      ctx.redirect('/account/devices?done=linked');
      return;
    }

    const account = await accountFor(deps.store, known, who, kept);
    if (!account) throw await refuse('upstream.noAccount', `no account is linked to this ${id} subject`);
    if (!(await deps.store.identityProviders.verified(stateHash, account.accountId, federatedAmr(who))))
      throw upstreamRefusal('upstream.expired', name, 'this answer was already used', back);
    await audit(deps.store, {
      action: 'account.signed_in',
      accountId: account.accountId,
      actorIp: ctx.ip,
      deviceUa: ctx.get('user-agent') || null,
      detail: { method: 'upstream', provider: id, ...(account.created ? { created: true } : {}) },
    });
    ctx.status = 303;
    // The sign-in resumes under the interaction's own path, where its cookie is sent; the row says which browser.
    writeTrip(ctx, { ...trip, v: '', n: '' });
    ctx.redirect(`/interaction/${encodeURIComponent(trip.b)}/upstream`);
  });

  router.get('/interaction/:uid/upstream', async (ctx) => {
    const d = await loadInteraction(ctx, deps.provider());
    const trip = readTrip(ctx);
    clearTrip(ctx);
    const row =
      trip && trip.k === 'interaction' && trip.b === d.uid && d.prompt.name === 'login' && !d.prompt.reasons.includes(PHR_REQUIRED)
        ? await deps.store.identityProviders.finish(sha256(trip.s), 'interaction', d.uid)
        : undefined;
    if (!row?.account_id) {
      const name = trip ? ((await deps.upstreams.find(trip.p))?.name ?? trip.p) : '';
      throw upstreamRefusal('upstream.expired', name, 'no verified answer of this browser for this sign-in', backTo('interaction', d.uid));
    }
    const returnTo = await deps
      .provider()
      .interactionResult(
        ctx.req,
        ctx.res,
        { login: { accountId: row.account_id, amr: row.amr ?? ['fed'], acr: ACR_PASSWORD } },
        { mergeWithLastSubmission: false },
      );
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  return router;
}

function backTo(purpose: 'interaction' | 'link', boundTo: string): { href: string; key: MessageKey } {
  return purpose === 'interaction'
    ? { href: `/interaction/${encodeURIComponent(boundTo)}`, key: 'next.backToSignIn' }
    : { href: '/account/devices', key: 'next.devices' };
}
