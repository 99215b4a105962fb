/**
 * The one outgoing request oidc-provider makes here (oidc/provider.ts `fetch`), and where it may go.
 */
/** Loopback names, as oidc-provider lists them. */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * An outgoing request of the library (its one here: a CIBA ping to a client's notification endpoint, since registered
 * clients cannot name jwks_uri or sector_identifier_uri). The library guards every such request: https only (checked
 * when the client is made) and a connection refused to special-use addresses (loopback, private, link-local: its SSRF
 * dispatcher). A local trial, where the issuer itself is on loopback, may be pinged on loopback over plain http (its
 * endpoint has no certificate); with any other issuer a loopback target is refused here before the library's guard.
 */
export function outgoing(
  issuer: string,
  url: URL | string | Request,
  options: RequestInit & { dispatcher?: unknown } = {},
): Promise<Response> {
  const target = new URL(url instanceof Request ? url.url : url);
  if (LOOPBACK.has(target.hostname)) {
    if (!LOOPBACK.has(new URL(issuer).hostname))
      return Promise.reject(new Error(`refused: ${target.host} is loopback and the issuer is not`));
    target.protocol = 'http:';
    const { dispatcher: _guard, ...local } = options;
    return globalThis.fetch(target, local);
  }
  return globalThis.fetch(target, options);
}
