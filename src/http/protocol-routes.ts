import { HttpError } from './errors.js';

/**
 * oidc-provider's endpoints and the methods each answers. oidc-provider matches paths case-insensitively and with
 * or without one trailing slash, so every guard in front of it compares {@link canonicalPath}s; a known endpoint
 * asked with another method gets 405 with `Allow` instead of falling through to a route that cannot serve it.
 */
const ENDPOINTS: Array<[RegExp, string[]]> = [
  [/^\/\.well-known\/(openid-configuration|oauth-authorization-server)$/, ['GET', 'HEAD', 'OPTIONS']],
  [/^\/jwks$/, ['GET', 'HEAD', 'OPTIONS']],
  [/^\/auth$/, ['GET', 'HEAD']],
  [/^\/auth\/[^/]+$/, ['GET', 'HEAD']],
  [/^\/token$/, ['POST', 'OPTIONS']],
  [/^\/token\/(introspection|revocation)$/, ['POST', 'OPTIONS']],
  [/^\/me$/, ['GET', 'HEAD', 'POST', 'OPTIONS']],
  [/^\/session\/end$/, ['GET', 'HEAD']],
  [/^\/session\/end\/confirm$/, ['POST']],
  [/^\/session\/end\/success$/, ['GET', 'HEAD']],
  [/^\/device\/auth$/, ['POST', 'OPTIONS']],
  [/^\/device$/, ['GET', 'HEAD', 'POST']],
  [/^\/device\/[^/]+$/, ['GET', 'HEAD']],
  [/^\/request$/, ['POST', 'OPTIONS']],
];

/** The path as oidc-provider's router matches it: ASCII lower case, without one trailing slash. */
export function canonicalPath(path: string): string {
  const lower = path.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return lower.length > 1 && lower.endsWith('/') ? lower.slice(0, -1) : lower;
}

/** Throws 405 with `Allow` when `path` (canonical) is one of oidc-provider's endpoints and `method` is not its own. */
export function checkMethod(path: string, method: string): void {
  const endpoint = ENDPOINTS.find(([re]) => re.test(path));
  if (endpoint && !endpoint[1].includes(method)) {
    throw new HttpError(405, 'invalid_request', `${method} is not allowed here`, {
      headers: { Allow: endpoint[1].join(', ') },
      key: 'error.method',
    });
  }
}
