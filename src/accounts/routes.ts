import { createHash, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Config } from '../config/schema.js';
import { readForm } from '../http/body.js';
import { checkCsrf, csrfToken } from '../http/csrf.js';
import { HttpError } from '../http/errors.js';
import { signedInUser } from '../http/session.js';
import { ACCOUNT_CLIENT_ID } from './client.js';
import type { Store } from '../store/index.js';
import { devicesPage } from '../views/account.js';
import { tFor } from '../views/context.js';
import { listApprovals, revokeApproval } from './devices.js';

export { ACCOUNT_CLIENT_ID };

export interface AccountDeps {
  config: Config;
  store: Store;
  issuer: string;
  provider: () => Provider;
  secrets: () => string[];
  onOutcome?: (kind: 'device' | 'desktop', outcome: 'approved' | 'denied' | 'revoked') => void;
}

/**
 * "Your devices": what this browser's signed-in user signed in on other devices (device approvals and desktop
 * scans), each revocable on its own. Without a session it starts a normal sign-in for the account client.
 */
/** Where to go after signing in (set by pages that need a session first, e.g. a scanned desktop QR code). */
export const RETURN_COOKIE = 'handoff_return';
const RETURNABLE = /^\/q\/[\w-]{43}$/;

export function accountRoutes(deps: AccountDeps): Router {
  const router = new Router();
  const signedIn = (ctx: Context) => signedInUser(ctx, deps.provider());
  const csrfFor = (uid: string) => csrfToken(deps.secrets(), 'devices', uid);

  router.get('/account/devices', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) {
      ctx.redirect('/account/signin');
      return;
    }
    const user = await deps.store.users.byId(who.accountId);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = devicesPage(tFor(ctx), {
      account: user?.name ?? user?.username ?? '',
      approvals: await listApprovals(deps.store, who.accountId),
      csrf: csrfFor(who.sessionUid),
    });
  });

  router.post('/account/devices/:id/revoke', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) throw new HttpError(401, 'login_required', 'Sign in again to manage your devices.', { key: 'error.accountSignIn' });
    const form = await readForm(ctx, deps.config.bodyLimitBytes);
    checkCsrf(deps.secrets(), form.csrf, ['devices', who.sessionUid]);
    const kind = await revokeApproval(deps.store, who.accountId, ctx.params.id ?? '', ctx.ip);
    if (kind) deps.onOutcome?.(kind, 'revoked');
    ctx.status = 303;
    ctx.redirect('/account/devices');
  });

  // Sign-in for the account pages: a standard authorization request of the built-in client; once oidc-provider's
  // session exists the callback has nothing more to do (the code is left to expire unused).
  router.get('/account/signin', (ctx) => {
    const challenge = createHash('sha256').update(randomBytes(32)).digest('base64url');
    const url = new URL(`${deps.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: ACCOUNT_CLIENT_ID,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: `${deps.issuer}/account/callback`,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    ctx.redirect(url.toString());
  });
  router.get('/account/callback', (ctx) => {
    const back = ctx.cookies.get(RETURN_COOKIE, { signed: true });
    ctx.cookies.set(RETURN_COOKIE, null, { signed: true });
    ctx.redirect(back && RETURNABLE.test(back) ? back : '/account/devices');
  });
  return router;
}
