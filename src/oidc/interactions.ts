import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { verifyPassword, decoyHash } from '../accounts/password.js';
import { canonicalUsername, knownBrowserFor, rememberBrowser, signInCounters } from '../accounts/sign-in-limits.js';
import type { Config } from '../config/schema.js';
import { readForm, readJsonObject } from '../http/body.js';
import { passkeyCeremonies, relyingPartyOf, signedInWithPasskey } from '../accounts/passkeys.js';
import { audit } from '../ops/audit.js';
import { ACR_PASSWORD, ACR_PHISHING_RESISTANT, PHR_REQUIRED } from './acr.js';
import { checkCsrf, csrfToken as csrfFor } from '../http/csrf.js';
import { ACCOUNT_CLIENT_ID, RETURN_COOKIE } from '../accounts/routes.js';
import { sha256 } from '../store/hash.js';
import { HttpError } from '../http/errors.js';
import { giveBack, take } from '../http/limits.js';
import type { Store } from '../store/index.js';
import { tFor } from '../views/context.js';
import type { SafeHtml } from '../views/html.js';
import { consentPage, loginPage } from '../views/sign-in.js';
import { looksLikePhone } from '../views/user-agent.js';
import { upstreamButtons, type Upstreams } from '../accounts/upstream.js';

/**
 * Our login and consent pages (oidc-provider's interaction routes). Each form carries a CSRF token bound to the
 * interaction; the interaction itself is bound to this browser by oidc-provider's interaction cookie.
 */
export interface InteractionDeps {
  config: Config;
  store: Store;
  provider: () => Provider;
  issuer: string;
  /** Cookie keys, newest first: roots of the CSRF and known-browser keys (http/secrets.ts). */
  secrets: () => string[];
  /** The "sign in with your phone" section for a login page, when the client allows it (qr-login/desktop.ts). */
  qrSection?: (ctx: Context, d: Details, csrf: string) => Promise<SafeHtml | undefined>;
  /** Upstream providers offered as "Continue with …" (accounts/upstream.ts). */
  upstreams?: Upstreams;
  /** Whether the sign-in page offers "Create an account" and "Forgot password?" (accounts/self-service.ts). */
  selfService?: { signup: boolean; recovery: boolean };
}

export type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** The interaction of this browser (oidc-provider checks its cookie) for route `:uid`, or a readable 400. */
export async function loadInteraction(ctx: Context, provider: Provider): Promise<Details> {
  let d: Details;
  try {
    d = await provider.interactionDetails(ctx.req, ctx.res);
  } catch {
    throw new HttpError(400, 'invalid_request', 'This sign-in has expired or was opened in another browser.', {
      key: 'error.interactionGone',
    });
  }
  if (d.uid !== ctx.params.uid) {
    throw new HttpError(400, 'invalid_request', 'This sign-in does not belong to this browser session.', { key: 'error.interactionOther' });
  }
  return d;
}

/** The CSRF token of the forms of one interaction (login, consent, the desktop QR's rotate and complete). */
export function csrfToken(roots: string[], uid: string): string {
  return csrfFor(roots, 'interaction', uid);
}

async function clientView(provider: Provider, clientId: unknown) {
  const client = typeof clientId === 'string' ? await provider.Client.find(clientId) : undefined;
  return {
    name: client?.clientName ?? (typeof clientId === 'string' ? clientId : 'an application'),
    uri: client?.clientUri,
    selfRegistered: client?.metadata().handoff_registered === true,
  };
}

export function interactionRoutes(deps: InteractionDeps): Router {
  const { config, store } = deps;
  const router = new Router();
  let decoy: Promise<string> | undefined;

  const details = (ctx: Context) => loadInteraction(ctx, deps.provider());
  const selfServiceLinks = (uid: string) => ({
    ...(deps.selfService?.signup ? { signup: `/interaction/${uid}/signup` } : {}),
    ...(deps.selfService?.recovery ? { forgot: `/account/forgot?back=${encodeURIComponent(`/interaction/${uid}`)}` } : {}),
  });

  async function checkedForm(ctx: Context, d: Details): Promise<Record<string, string>> {
    const form = await readForm(ctx, config.bodyLimitBytes);
    checkCsrf(deps.secrets(), form.csrf, ['interaction', d.uid]);
    return form;
  }

  function finish(ctx: Context, returnTo: string) {
    ctx.status = 303;
    ctx.redirect(returnTo);
  }

  /**
   * What a sign-in to the account pages is for, when a phone was sent to it from a code in hand (a desktop's QR code,
   * a device's link): the page then says so instead of "continue to Handoff account".
   */
  async function purposeOf(ctx: Context, d: Details): Promise<string | undefined> {
    if (d.params.client_id !== ACCOUNT_CLIENT_ID) return undefined;
    const back = ctx.cookies.get(RETURN_COOKIE, { signed: true }) ?? '';
    const t = tFor(ctx);
    const ticket = /^\/q\/([\w-]{43})$/.exec(back)?.[1];
    if (ticket) {
      const found = await store.tickets.bySecretHash(sha256(ticket));
      const client = found ? await clientView(deps.provider(), found.client_id) : undefined;
      return client ? t('login.forScan', { client: client.name }) : undefined;
    }
    return back.startsWith('/device?') ? t('login.forDevice') : undefined;
  }

  router.get('/interaction/:uid', async (ctx) => {
    const d = await details(ctx);
    const client = await clientView(deps.provider(), d.params.client_id);
    const csrf = csrfToken(deps.secrets(), d.uid);
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    const t = tFor(ctx);
    if (d.prompt.name === 'login') {
      const stepUp = d.prompt.reasons.includes(PHR_REQUIRED);
      const qr = stepUp ? undefined : await deps.qrSection?.(ctx, d, csrf);
      const purpose = await purposeOf(ctx, d);
      ctx.body = loginPage(t, {
        ...(purpose ? { title: purpose } : {}),
        action: `/interaction/${d.uid}/login`,
        csrf,
        client,
        passkey: { options: `/interaction/${d.uid}/passkey/options`, verify: `/interaction/${d.uid}/passkey` },
        stepUp,
        ...(qr ? { qr } : {}),
        ...(deps.upstreams && !stepUp ? { upstreams: await upstreamButtons(deps.upstreams, d.uid) } : {}),
        ...(stepUp ? {} : selfServiceLinks(d.uid)),
        cancel: { action: `/interaction/${d.uid}/cancel`, device: d.deviceCode !== undefined },
        ...(looksLikePhone(ctx.get('user-agent'), ctx.get('sec-ch-ua-mobile'))
          ? {}
          : {
              hybrid: {
                offer: { options: `/interaction/${d.uid}/passkey/offer/options`, register: `/interaction/${d.uid}/passkey/offer` },
              },
            }),
      });
      return;
    }
    const user = d.session?.accountId ? await store.users.byId(d.session.accountId) : undefined;
    const scopes = String(d.params.scope ?? '')
      .split(' ')
      .filter(Boolean);
    ctx.body = consentPage(t, { action: `/interaction/${d.uid}/confirm`, csrf, client, scopes, account: user?.username ?? 'unknown' });
  });

  router.post('/interaction/:uid/login', async (ctx) => {
    const d = await details(ctx);
    if (d.prompt.name !== 'login') throw new HttpError(400, 'invalid_request', 'This step is already complete.', { key: 'error.step' });
    const form = await checkedForm(ctx, d);
    const typed = (form.username ?? '').trim().slice(0, 128);
    const password = (form.password ?? '').slice(0, 1024);
    const client = await clientView(deps.provider(), d.params.client_id);
    const csrf = csrfToken(deps.secrets(), d.uid);
    const t = tFor(ctx);
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    if (d.prompt.reasons.includes(PHR_REQUIRED))
      throw new HttpError(400, 'invalid_request', 'This application asks for a passkey.', { key: 'error.passkeyRequired' });
    const upstreamList = deps.upstreams ? await upstreamButtons(deps.upstreams, d.uid) : [];
    const again = (status: number, error: string) => {
      ctx.status = status;
      ctx.body = loginPage(t, {
        action: `/interaction/${d.uid}/login`,
        passkey: { options: `/interaction/${d.uid}/passkey/options`, verify: `/interaction/${d.uid}/passkey` },
        csrf,
        client,
        username: typed.replace(/[\u0000-\u001f]/g, ''),
        error,
        ...(upstreamList.length ? { upstreams: upstreamList } : {}),
        ...selfServiceLinks(d.uid),
      });
    };

    // Reserve an attempt before checking, atomically, so parallel guesses cannot exceed the limit.
    const username = canonicalUsername(typed);
    const creds = username ? await store.users.credentials(username) : undefined;
    const knownBrowser = knownBrowserFor(ctx, deps.secrets(), creds?.id);
    const counters = signInCounters(config.login, { username, ip: ctx.ip, knownBrowser });
    await take(store, counters);

    decoy ??= decoyHash(config.scrypt);
    const ok = await verifyPassword(password, creds?.password_hash ?? (await decoy));
    if (!creds || !ok) {
      again(401, t('login.wrong'));
      return;
    }
    // A correct password does not spend the budget: give back the reserved attempts.
    await giveBack(store, counters);
    rememberBrowser(ctx, deps.secrets(), creds.id, config.login, deps.issuer.startsWith('https:'));
    await signedInAudit(ctx, creds.id, 'password');
    const returnTo = await deps
      .provider()
      .interactionResult(
        ctx.req,
        ctx.res,
        { login: { accountId: creds.id, amr: ['pwd'], acr: ACR_PASSWORD } },
        { mergeWithLastSubmission: false },
      );
    finish(ctx, returnTo);
  });

  // Passkey sign-in: options bound to this interaction, then the signed answer. It is counted like a password
  // attempt from this address (reserved first, given back on success), so passkeys open no side door for guessing.
  const ceremonies = passkeyCeremonies(store, relyingPartyOf(deps.issuer));
  const signedInAudit = (ctx: Context, accountId: string, method: 'password' | 'passkey') =>
    audit(store, { action: 'account.signed_in', accountId, actorIp: ctx.ip, deviceUa: ctx.get('user-agent') || null, detail: { method } });
  async function jsonWithCsrf(ctx: Context, d: Details): Promise<Record<string, unknown>> {
    const body = await readJsonObject(ctx, config.bodyLimitBytes);
    checkCsrf(deps.secrets(), typeof body.csrf === 'string' ? body.csrf : undefined, ['interaction', d.uid]);
    ctx.state.jsonBody = body;
    return body;
  }
  router.post('/interaction/:uid/passkey/options', async (ctx) => {
    const d = await details(ctx);
    if (d.prompt.name !== 'login') throw new HttpError(400, 'invalid_request', 'This step is already complete.', { key: 'error.step' });
    await jsonWithCsrf(ctx, d);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await ceremonies.authenticationOptions(`interaction:${d.uid}`);
  });
  router.post('/interaction/:uid/passkey', async (ctx) => {
    const d = await details(ctx);
    if (d.prompt.name !== 'login') throw new HttpError(400, 'invalid_request', 'This step is already complete.', { key: 'error.step' });
    const body = await jsonWithCsrf(ctx, d);
    const counters = signInCounters(config.login, { username: undefined, ip: ctx.ip, knownBrowser: undefined });
    await take(store, counters);
    const { accountId, amr } = await ceremonies.authenticate(`interaction:${d.uid}`, body);
    await giveBack(store, counters);
    await signedInAudit(ctx, accountId, 'passkey');
    const returnTo = await deps
      .provider()
      .interactionResult(ctx.req, ctx.res, { login: { accountId, amr, acr: ACR_PHISHING_RESISTANT } }, { mergeWithLastSubmission: false });
    ctx.set('Cache-Control', 'no-store');
    // A passkey from another device (a phone over the hybrid transport): the page offers one on this computer.
    const attachment = (body.response as { authenticatorAttachment?: unknown } | undefined)?.authenticatorAttachment;
    ctx.body = { redirect: returnTo, ...(attachment === 'cross-platform' ? { offerLocal: true } : {}) };
  });

  // The offer after a sign-in with a passkey from another device: a passkey on this computer, for the account that
  // just signed in with a passkey in this very sign-in (the fresh passkey sign-in adding one needs).
  async function offered(ctx: Context): Promise<{ d: Details; accountId: string }> {
    const d = await details(ctx);
    const login = d.result?.login as { accountId?: unknown; amr?: unknown } | undefined;
    const amr = Array.isArray(login?.amr) ? (login.amr as string[]) : [];
    if (typeof login?.accountId !== 'string' || !signedInWithPasskey(amr))
      throw new HttpError(400, 'invalid_request', 'This step is not available now.', { key: 'error.step' });
    await jsonWithCsrf(ctx, d);
    ctx.set('Cache-Control', 'no-store');
    return { d, accountId: login.accountId };
  }
  router.post('/interaction/:uid/passkey/offer/options', async (ctx) => {
    const { d, accountId } = await offered(ctx);
    const user = await store.users.byId(accountId);
    if (!user) throw new HttpError(400, 'invalid_request', 'This step is not available now.', { key: 'error.step' });
    ctx.body = await ceremonies.registrationOptions(user, `interaction:${d.uid}`, { platform: true });
  });
  router.post('/interaction/:uid/passkey/offer', async (ctx) => {
    const { d, accountId } = await offered(ctx);
    const body = (ctx.state.jsonBody ?? {}) as Record<string, unknown>;
    const added = await ceremonies.register(accountId, `interaction:${d.uid}`, body, {
      ip: ctx.ip,
      ua: ctx.get('user-agent').slice(0, 512) || null,
    });
    await audit(store, {
      action: 'account.passkey.added',
      accountId,
      actorIp: ctx.ip,
      deviceUa: ctx.get('user-agent') || null,
      detail: { name: added.name },
    });
    ctx.status = 201;
    ctx.body = { id: added.id, name: added.name };
  });

  // "Cancel" on the sign-in page: the request ends with access_denied (a device approval is declined; a relying party
  // hears that the user declined).
  router.post('/interaction/:uid/cancel', async (ctx) => {
    const d = await details(ctx);
    await checkedForm(ctx, d);
    const returnTo = await deps
      .provider()
      .interactionResult(
        ctx.req,
        ctx.res,
        { error: 'access_denied', error_description: 'End-User aborted interaction' },
        { mergeWithLastSubmission: false },
      );
    finish(ctx, returnTo);
  });

  router.post('/interaction/:uid/confirm', async (ctx) => {
    const d = await details(ctx);
    if (d.prompt.name !== 'consent') throw new HttpError(400, 'invalid_request', 'This step is not available now.', { key: 'error.step' });
    const form = await checkedForm(ctx, d);
    const provider = deps.provider();
    if (form.decision !== 'allow') {
      const returnTo = await provider.interactionResult(
        ctx.req,
        ctx.res,
        { error: 'access_denied', error_description: 'End-User denied the request' },
        { mergeWithLastSubmission: false },
      );
      finish(ctx, returnTo);
      return;
    }
    const accountId = d.session?.accountId;
    const clientId = d.params.client_id;
    if (!accountId || typeof clientId !== 'string')
      throw new HttpError(400, 'invalid_request', 'This sign-in is incomplete.', { key: 'error.step' });
    const grant = (d.grantId ? await provider.Grant.find(d.grantId) : undefined) ?? new provider.Grant({ accountId, clientId });
    const missing = d.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {}))
      grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    // Remembered for this account and app across sessions, until removed on the account page.
    await store.consents.remember(accountId, clientId, (grant.getOIDCScope() ?? '').split(' ').filter(Boolean));
    const returnTo = await provider.interactionResult(
      ctx.req,
      ctx.res,
      { consent: d.grantId ? {} : { grantId } },
      { mergeWithLastSubmission: true },
    );
    finish(ctx, returnTo);
  });

  return router;
}
