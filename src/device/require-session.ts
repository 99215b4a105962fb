import type { Middleware } from 'koa';
import type Provider from 'oidc-provider';
import { HttpError } from '../http/errors.js';
import { canonicalPath } from '../http/protocol-routes.js';
import { findSession } from '../http/session.js';
import { normalizeUserCode } from './user-code.js';

/**
 * Guards in front of oidc-provider's code verification endpoints (`/device` and `/device/:uid`).
 *
 * A code-entry form POSTed by a browser with no live session (cookies cleared, session expired, or a forged
 * cross-site post) cannot carry a valid xsrf token, and the resume step (`/device/:uid`) only exists for a browser
 * that is in the middle of approving. oidc-provider 9 answers both without a session with a 500 (it tries to
 * persist a session it never saved), so the first is sent back to the entry page with a 303 and the second gets a
 * readable 400 page.
 */
export function requireDeviceSession(provider: () => Provider): Middleware {
  return async (ctx, next) => {
    const path = canonicalPath(ctx.path);
    // A malformed code in the link (only hand-made links have one) goes to the clean entry page.
    if (ctx.method === 'GET' && path === '/device' && typeof ctx.query.user_code !== 'undefined') {
      const code = ctx.query.user_code;
      if (typeof code !== 'string' || !normalizeUserCode(code)) {
        ctx.status = 303;
        ctx.redirect('/device');
        return;
      }
    }
    if (ctx.method === 'POST' && path === '/device') {
      if (!(await findSession(ctx, provider()))) {
        ctx.status = 303;
        ctx.redirect('/device');
        return;
      }
    }
    if (path.startsWith('/device/') && path !== '/device/auth') {
      const p = provider();
      const resuming = ctx.cookies.get(p.cookieName('resume'), { signed: true });
      if (!resuming || !(await findSession(ctx, p))) {
        throw new HttpError(
          400,
          'invalid_request',
          'This sign-in has expired or was opened in another browser. Start again on your device.',
        );
      }
    }
    await next();
    // Code entry, confirmation and outcome pages carry the xsrf token and the code: never cached.
    if (path !== '/device/auth') ctx.set('Cache-Control', 'no-store');
  };
}
