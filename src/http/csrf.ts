import type { MessageKey } from '../views/i18n.js';
import { HttpError } from './errors.js';
import { mac, verifyMac } from './secrets.js';

/**
 * The one CSRF helper of every form Handoff draws: a token is an HMAC (key `csrf`, derived from the cookie keys) of
 * what the form is bound to, e.g. `['interaction', uid]` or `['qr', sessionUid, ticketId]`. Binding to a value that
 * only this browser's cookie leads to (the interaction, the session) makes a token useless in any other browser.
 */
export function csrfToken(roots: string[], ...binding: string[]): string {
  return mac(roots, 'csrf', binding.join('\u0000'));
}

/** Throws a readable 403 unless `token` was made by {@link csrfToken} for this binding under a kept key. */
export function checkCsrf(roots: string[], token: string | undefined, binding: string[], key: MessageKey = 'error.formExpired'): void {
  if (!token || !verifyMac(roots, 'csrf', binding.join('\u0000'), token)) {
    throw new HttpError(403, 'invalid_request', 'This form has expired.', { key });
  }
}

/**
 * Forms that no browser state binds a token to (pages a mailed link opens, "Forgot password"): only posts from our own
 * pages are taken. Browsers send `Origin` on every form POST (and `Sec-Fetch-Site`); a post that names another site,
 * or an opaque origin (`null`: a sandboxed frame, a file), is refused. Clients that send neither (curl, tests) are
 * not browsers a page could drive.
 */
export function checkSameOrigin(ctx: { get(name: string): string }, issuer: string): void {
  const origin = ctx.get('origin');
  const site = ctx.get('sec-fetch-site');
  if ((origin && origin !== new URL(issuer).origin) || (site && site !== 'same-origin' && site !== 'none')) {
    throw new HttpError(403, 'invalid_request', 'This form was sent from another site.', { key: 'error.formExpired' });
  }
}
