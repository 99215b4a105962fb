import { createHash, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Config } from '../config/schema.js';
import { readForm, readJsonObject } from '../http/body.js';
import { ACR_PHISHING_RESISTANT, passkeyCeremonies, relyingPartyOf } from './passkeys.js';
import { checkCsrf, csrfToken } from '../http/csrf.js';
import { HttpError } from '../http/errors.js';
import { findSession, type SignedIn, signedInUser } from '../http/session.js';

import { ACCOUNT_CLIENT_ID } from './client.js';
import type { Store } from '../store/index.js';
import { accountPage, approvalTitle, confirmEndPage, homePage, isDoneKey } from '../views/account.js';
import { FAVICON_SVG } from '../views/layout.js';
import { tFor } from '../views/context.js';
import { listApprovals, revokeApproval } from './devices.js';
import { freshEnough, freshSignInUrl, type SessionNotes } from './sessions.js';
import { audit } from '../ops/audit.js';
import type { Upstreams } from './upstream.js';
import type { WaitingRequest } from '../views/ciba.js';

export { ACCOUNT_CLIENT_ID };

/** Sign-out from the account pages: RP-initiated logout of the account client, back to the home page after. */
export function signOutUrl(issuer: string): string {
  const url = new URL(`${issuer}/session/end`);
  url.search = new URLSearchParams({ client_id: ACCOUNT_CLIENT_ID, post_logout_redirect_uri: `${issuer}/` }).toString();
  return url.toString();
}

export interface AccountDeps {
  config: Config;
  store: Store;
  issuer: string;
  provider: () => Provider;
  secrets: () => string[];
  onOutcome?: (kind: 'device' | 'desktop' | 'ciba', outcome: 'approved' | 'denied' | 'revoked') => void;
  /** Signed-in sessions, as the account page lists them (accounts/sessions.ts). */
  sessionNotes?: SessionNotes;
  /** Upstream providers the account page offers to link (accounts/upstream.ts). */
  upstreams?: Upstreams;
  /** Whether mailed links reach anyone (accounts/mail.ts): the page then offers "send the link again". */
  mailer?: { delivers: boolean };
  /** The apps waiting for this account's approval (ciba/phone.ts), listed first. */
  waiting?: (accountId: string) => Promise<WaitingRequest[]>;
}

/**
 * "Your devices": what this browser's signed-in user signed in on other devices (device approvals and desktop
 * scans), each revocable on its own. Without a session it starts a normal sign-in for the account client.
 */
/** Where to go after signing in (set by pages that need a session first, e.g. a scanned desktop QR code). */
export const RETURN_COOKIE = 'handoff_return';
/** The most recently used sessions the account page lists (the rest are counted, and end with "Sign out everywhere"). */
const SESSIONS_SHOWN = 10;

const RETURNABLE =
  /^\/account\/verify$|^\/q\/[\w-]{43}$|^\/device\?user_code=[A-Z]{4}-[A-Z]{4}$|^\/account\/devices$|^\/account\/passkeys\/[\w-]{1,300}\/remove$/;

export function accountRoutes(deps: AccountDeps): Router {
  const router = new Router();
  const signedIn = (ctx: Context) => signedInUser(ctx, deps.provider());
  const csrfFor = (uid: string) => csrfToken(deps.secrets(), 'devices', uid);

  const requireSignIn = async (ctx: Context) => {
    const who = await signedIn(ctx);
    if (!who) throw new HttpError(401, 'login_required', 'Sign in again to manage your devices.', { key: 'error.accountSignIn' });
    return who;
  };
  const render = (ctx: Context, body: string) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = body;
  };
  /** A form post of the account pages: a signed-in browser and its CSRF token, or a readable 401/403. */
  const formChecked = async (ctx: Context) => {
    const who = await requireSignIn(ctx);
    const form = await readForm(ctx, deps.config.bodyLimitBytes);
    checkCsrf(deps.secrets(), form.csrf, ['devices', who.sessionUid]);
    return { who, form };
  };
  const clientName = async (clientId: string) => (await deps.provider().Client.find(clientId))?.clientName ?? clientId;

  router.get('/', async (ctx) => {
    const who = await signedIn(ctx);
    const user = who ? await deps.store.users.byId(who.accountId) : undefined;
    render(ctx, homePage(tFor(ctx), { account: user ? (user.name ?? user.username) : undefined, signOut: signOutUrl(deps.issuer) }));
  });
  for (const path of ['/favicon.svg', '/favicon.ico']) {
    router.get(path, (ctx) => {
      ctx.type = 'image/svg+xml';
      ctx.set('Cache-Control', 'public, max-age=86400');
      ctx.body = FAVICON_SVG;
    });
  }
  router.get('/account', (ctx) => ctx.redirect('/account/devices'));
  router.get('/account/devices', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) {
      ctx.redirect('/account/signin');
      return;
    }
    const user = await deps.store.users.byId(who.accountId);
    const consents = await deps.store.consents.list(who.accountId);
    const passkeys = await deps.store.passkeys.list(who.accountId);
    await deps.sessionNotes?.used(who.sessionUid);
    const links = deps.upstreams ? await deps.store.identityProviders.linksOf(who.accountId) : [];
    const upstreams = deps.upstreams
      ? (await deps.upstreams.list())
          .map((u) => ({
            id: u.id,
            name: u.name,
            enabled: u.enabled,
            linkedAt: links.find((l) => l.provider_id === u.id)?.created_at ?? null,
          }))
          .filter((u) => u.enabled || u.linkedAt !== null)
      : [];
    render(
      ctx,
      accountPage(tFor(ctx), {
        account: user?.name ?? user?.username ?? '',
        approvals: await listApprovals(deps.store, who.accountId),
        apps: await Promise.all(consents.map(async (c) => ({ ...c, name: await clientName(c.client_id) }))),
        csrf: csrfFor(who.sessionUid),
        signOut: signOutUrl(deps.issuer),
        passkeys,
        passkeysUnlocked: freshEnough(deps.config, who, passkeys.length > 0),
        freshSignIn: freshSignInUrl('/account/devices'),
        sessions: await deps.store.sessions.list(who.accountId, SESSIONS_SHOWN),
        sessionCount: await deps.store.sessions.count(who.accountId),
        thisSession: who.sessionUid,
        upstreams,
        ...(deps.waiting ? { waiting: await deps.waiting(who.accountId) } : {}),
        ...(user ? { email: { address: user.email, verified: user.email_verified, canSend: deps.mailer?.delivers ?? false } } : {}),
        done: isDoneKey(ctx.query.done) ? ctx.query.done : undefined,
        recent: (await deps.store.audit.list({ limit: 5, accountId: who.accountId, action: 'signed_in' })).map((e) => ({
          at: e.at,
          method: String((typeof e.detail === 'string' ? JSON.parse(e.detail) : e.detail)?.method ?? 'password'),
          ip: e.actor_ip,
          ua: e.device_ua,
        })),
      }),
    );
  });

  // Passkeys: registered from this page (JSON, for the page's script), renamed and removed with forms; removing
  // takes a confirmation first, like ending a sign-in.
  const ceremonies = passkeyCeremonies(deps.store, relyingPartyOf(deps.issuer));
  const jsonChecked = async (ctx: Context) => {
    const who = await requireSignIn(ctx);
    const body = await readJsonObject(ctx, deps.config.bodyLimitBytes);
    checkCsrf(deps.secrets(), typeof body.csrf === 'string' ? body.csrf : undefined, ['devices', who.sessionUid]);
    return { who, body };
  };
  /** Adding or removing a passkey: a fresh sign-in first, a passkey one once the account has a passkey. */
  const requireFresh = async (who: SignedIn, back: string) => {
    const hasPasskey = (await deps.store.passkeys.list(who.accountId)).length > 0;
    if (!freshEnough(deps.config, who, hasPasskey)) {
      throw new HttpError(401, 'login_required', 'Confirm it is you: sign in again to change your passkeys.', {
        key: 'error.freshSignIn',
        headers: { Location: freshSignInUrl(back) },
      });
    }
  };
  const passkeyAudit = (ctx: Context, who: SignedIn, action: 'account.passkey.added' | 'account.passkey.removed', name: string) =>
    audit(deps.store, { action, accountId: who.accountId, actorIp: ctx.ip, deviceUa: ctx.get('user-agent') || null, detail: { name } });
  router.post('/account/passkeys/options', async (ctx) => {
    const { who } = await jsonChecked(ctx);
    await requireFresh(who, '/account/devices');
    const user = await deps.store.users.byId(who.accountId);
    if (!user) throw new HttpError(401, 'login_required', 'Sign in again to manage your devices.', { key: 'error.accountSignIn' });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await ceremonies.registrationOptions(user, `session:${who.sessionUid}`);
  });
  router.post('/account/passkeys', async (ctx) => {
    const { who, body } = await jsonChecked(ctx);
    await requireFresh(who, '/account/devices');
    const added = await ceremonies.register(who.accountId, `session:${who.sessionUid}`, body, {
      ip: ctx.ip,
      ua: ctx.get('user-agent').slice(0, 512) || null,
    });
    await passkeyAudit(ctx, who, 'account.passkey.added', added.name);
    ctx.status = 201;
    ctx.body = { id: added.id, name: added.name };
  });
  router.post('/account/passkeys/:id/rename', async (ctx) => {
    const { who, form } = await formChecked(ctx);
    const name = (form.name ?? '')
      .replace(/[\u0000-\u001f\u007f]/g, '')
      .trim()
      .slice(0, 64);
    const renamed = name ? await deps.store.passkeys.rename(who.accountId, ctx.params.id ?? '', name) : false;
    ctx.status = 303;
    ctx.redirect(renamed ? '/account/devices?done=passkey-renamed' : '/account/devices');
  });
  router.get('/account/passkeys/:id/remove', async (ctx) => {
    const who = await requireSignIn(ctx);
    const t = tFor(ctx);
    const passkeys = await deps.store.passkeys.list(who.accountId);
    const passkey = passkeys.find((p) => p.id === ctx.params.id);
    if (!passkey) {
      ctx.redirect('/account/devices');
      return;
    }
    if (!freshEnough(deps.config, who, true)) {
      ctx.redirect(freshSignInUrl(`/account/passkeys/${encodeURIComponent(passkey.id)}/remove`));
      return;
    }
    render(
      ctx,
      confirmEndPage(t, {
        title: t('passkeys.confirm.title'),
        what: passkey.name,
        detail: t('passkeys.confirm.detail'),
        action: `/account/passkeys/${encodeURIComponent(passkey.id)}/remove`,
        csrf: csrfFor(who.sessionUid),
        cancel: '/account/devices',
      }),
    );
  });
  router.post('/account/passkeys/:id/remove', async (ctx) => {
    const { who } = await formChecked(ctx);
    const id = ctx.params.id ?? '';
    await requireFresh(who, `/account/passkeys/${encodeURIComponent(id)}/remove`);
    const name = (await deps.store.passkeys.list(who.accountId)).find((p) => p.id === id)?.name;
    if (name !== undefined && (await deps.store.passkeys.remove(who.accountId, id)))
      await passkeyAudit(ctx, who, 'account.passkey.removed', name);
    ctx.status = 303;
    ctx.redirect('/account/devices');
  });

  // Ending a sign-in or an app's access takes two steps: a page that says exactly what ends, then the POST.
  router.get('/account/devices/:id/revoke', async (ctx) => {
    const who = await requireSignIn(ctx);
    const t = tFor(ctx);
    const approval = (await listApprovals(deps.store, who.accountId)).find((a) => a.id === ctx.params.id);
    if (!approval) {
      ctx.redirect('/account/devices');
      return;
    }
    render(
      ctx,
      confirmEndPage(t, {
        title: t('devices.confirm.title'),
        what: approvalTitle(t, approval),
        detail: t('devices.confirm.detail'),
        action: `/account/devices/${approval.id}/revoke`,
        csrf: csrfFor(who.sessionUid),
        cancel: '/account/devices',
      }),
    );
  });
  router.post('/account/devices/:id/revoke', async (ctx) => {
    const { who } = await formChecked(ctx);
    const kind = await revokeApproval(deps.store, who.accountId, ctx.params.id ?? '', ctx.ip);
    if (kind) deps.onOutcome?.(kind, 'revoked');
    ctx.status = 303;
    ctx.redirect(kind ? '/account/devices?done=revoked' : '/account/devices');
  });
  router.get('/account/apps/:client/remove', async (ctx) => {
    const who = await requireSignIn(ctx);
    const t = tFor(ctx);
    const clientId = ctx.params.client ?? '';
    const remembered = await deps.store.consents.find(who.accountId, clientId);
    if (!remembered.length) {
      ctx.redirect('/account/devices');
      return;
    }
    render(
      ctx,
      confirmEndPage(t, {
        title: t('apps.confirm.title'),
        what: await clientName(clientId),
        detail: t('apps.confirm.detail'),
        action: `/account/apps/${encodeURIComponent(clientId)}/remove`,
        csrf: csrfFor(who.sessionUid),
        cancel: '/account/devices',
      }),
    );
  });
  router.post('/account/apps/:client/remove', async (ctx) => {
    const { who } = await formChecked(ctx);
    const forgot = await deps.store.consents.forget(who.accountId, ctx.params.client ?? '');
    ctx.status = 303;
    ctx.redirect(forgot ? '/account/devices?done=app-removed' : '/account/devices');
  });

  // "Not you? Switch account" on a decision page: this browser's session ends, and a sign-in comes back to the code in
  // hand (`back`: the device code's link or the desktop code's).
  router.post('/account/switch', async (ctx) => {
    const { who, form } = await formChecked(ctx);
    const back = form.back && RETURNABLE.test(form.back) ? form.back : '/account/devices';
    const found = await findSession(ctx, deps.provider());
    if (found?.session.uid === who.sessionUid) await found.session.destroy();
    ctx.cookies.set(deps.provider().cookieName('session'), null, { signed: true, overwrite: true, path: '/' });
    ctx.cookies.set(RETURN_COOKIE, back, { signed: true, httpOnly: true, sameSite: 'lax', maxAge: 10 * 60 * 1000 });
    ctx.status = 303;
    ctx.redirect('/account/signin');
  });

  // "Sign out everywhere": every session of the account ends at once, this one included (a confirmation first).
  router.get('/account/sessions/end', async (ctx) => {
    const who = await requireSignIn(ctx);
    const t = tFor(ctx);
    render(
      ctx,
      confirmEndPage(t, {
        title: t('sessions.confirm.title'),
        what: t('sessions.confirm.what', { count: await deps.store.sessions.count(who.accountId) }),
        detail: t('sessions.confirm.detail'),
        action: '/account/sessions/end',
        csrf: csrfFor(who.sessionUid),
        cancel: '/account/devices',
      }),
    );
  });
  router.post('/account/sessions/end', async (ctx) => {
    const { who } = await formChecked(ctx);
    const ended = await deps.store.sessions.endAll(who.accountId);
    await audit(deps.store, { action: 'account.signed_out_everywhere', accountId: who.accountId, actorIp: ctx.ip, detail: { ended } });
    ctx.cookies.set(deps.provider().cookieName('session'), null, { signed: true, overwrite: true, path: '/' });
    ctx.status = 303;
    ctx.redirect('/');
  });

  // Sign-in for the account pages: a standard authorization request of the built-in client; once oidc-provider's
  // session exists the callback has nothing more to do (the code is left to expire unused). `fresh=1` asks for a
  // sign-in now (prompt=login), with a passkey when the account has one, then returns to `back`.
  router.get('/account/signin', async (ctx) => {
    const challenge = createHash('sha256').update(randomBytes(32)).digest('base64url');
    const url = new URL(`${deps.issuer}/auth`);
    const params: Record<string, string> = {
      client_id: ACCOUNT_CLIENT_ID,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: `${deps.issuer}/account/callback`,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    };
    if (ctx.query.fresh === '1') {
      const who = await signedIn(ctx);
      params.prompt = 'login';
      if (who && (await deps.store.passkeys.list(who.accountId)).length > 0) params.acr_values = ACR_PHISHING_RESISTANT;
      const back = typeof ctx.query.back === 'string' && RETURNABLE.test(ctx.query.back) ? ctx.query.back : '/account/devices';
      ctx.cookies.set(RETURN_COOKIE, back, { signed: true, httpOnly: true, sameSite: 'lax', maxAge: 10 * 60 * 1000 });
    }
    url.search = new URLSearchParams(params).toString();
    ctx.redirect(url.toString());
  });
  router.get('/account/callback', (ctx) => {
    const back = ctx.cookies.get(RETURN_COOKIE, { signed: true });
    ctx.cookies.set(RETURN_COOKIE, null, { signed: true });
    ctx.redirect(back && RETURNABLE.test(back) ? back : '/account/devices');
  });
  return router;
}
