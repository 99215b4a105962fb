/**
 * Which browser origins may call Handoff's protocol endpoints for a client: Handoff's own pages (the demo TV) and
 * the origins of the client's registered `http(s)` redirect URIs (single-page apps). An opaque origin (`null`:
 * sandboxed frames, file pages, and the origin of custom-scheme redirect URIs) is never allowed: it would match
 * every such page at once.
 */
export function corsAllowed(issuer: string, origin: string, redirectUris: readonly string[]): boolean {
  if (!/^https?:\/\/[^/]+$/i.test(origin)) return false;
  if (origin === new URL(issuer).origin) return true;
  return redirectUris.some((uri) => /^https?:\/\//.test(uri) && URL.canParse(uri) && new URL(uri).origin === origin);
}
