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
 * Forms that no browser state binds a token to (pages a mailed link opens, "Forgot password"): a post another site
 * makes a browser send is refused. Browsers say where a post comes from in `Sec-Fetch-Site`; without it, an `Origin`
 * that names another site is refused. `Origin: null` alone proves nothing either way: our own pages send it, since
 * their `Referrer-Policy: no-referrer` makes a browser send `null` on every POST (Fetch, "append a request Origin
 * header"). Nothing these forms do needs more: each takes a secret from a mail, or only asks for one.
 */
export function checkSameOrigin(ctx: { get(name: string): string }, issuer: string): void {
  const site = ctx.get('sec-fetch-site');
  const origin = ctx.get('origin');
  const foreign = site ? site !== 'same-origin' && site !== 'none' : !!origin && origin !== 'null' && origin !== new URL(issuer).origin;
  if (foreign) throw new HttpError(403, 'invalid_request', 'This form was sent from another site.', { key: 'error.formExpired' });
}
