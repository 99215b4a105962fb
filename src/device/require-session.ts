import type { Middleware } from 'koa';
import type Provider from 'oidc-provider';
import { findSession } from '../accounts/routes.js';
import { normalizeUserCode } from './user-code.js';

/**
 * Guards in front of oidc-provider's code verification endpoint.
 *
 * A code-entry form POSTed by a browser with no live session (cookies cleared, session expired, or a forged
 * cross-site post) cannot carry a valid xsrf token. oidc-provider 9 answers that case with a 500 (it tries to
 * persist a session it never saved), so such a browser is sent back to the entry page with a 303 instead.
 */
export function requireDeviceSession(provider: () => Provider): Middleware {
  return async (ctx, next) => {
    // A malformed code in the link (only hand-made links have one) goes to the clean entry page.
    if (ctx.method === 'GET' && ctx.path === '/device' && typeof ctx.query.user_code !== 'undefined') {
      const code = ctx.query.user_code;
      if (typeof code !== 'string' || !normalizeUserCode(code)) {
        ctx.status = 303;
        ctx.redirect('/device');
        return;
      }
    }
    if (ctx.method === 'POST' && ctx.path === '/device') {
      if (!(await findSession(ctx, provider()))) {
        ctx.status = 303;
        ctx.redirect('/device');
        return;
      }
    }
    await next();
  };
}
