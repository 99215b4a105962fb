import { STYLE_HASH } from '../views/layout.js';

/**
 * Headers on every public response. Pages are self-contained: the only style is the layout's (allowed by hash),
 * scripts come from this origin only (oidc-provider adds the hash of its one inline form-post script itself),
 * and no page can be framed.
 */
export const CSP = [
  "default-src 'none'",
  `style-src ${STYLE_HASH}`,
  "script-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  // The push service worker (/push-sw.js, ciba/assets/push-sw.js): from this origin only.
  "worker-src 'self'",
  "form-action 'self' https: http:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export const SECURITY_HEADERS = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};
