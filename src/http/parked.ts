import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Tens of thousands of requests stay open for minutes (held token requests, event streams), so what each keeps is
 * what scale multiplies (bench/README.md, memory per wait). Once a request is parked, what Node and the front door
 * built to read it is let go, where Node builds it again on the next read:
 *
 * - the headers object, which Node builds from `rawHeaders` on the first read of `req.headers` and again on the next
 *   read once it is let go. The one thing Handoff wrote into it, the request id (http/front-door.ts), is written
 *   again by {@link unparkRequest} before the request goes anywhere that reads it;
 * - the parsed URL that parseurl caches on the request (parsed again on the next read).
 */
export function parkRequest(req: IncomingMessage): void {
  (req as { headers: unknown }).headers = null;
  (req as { _parsedUrl?: unknown })._parsedUrl = undefined;
}

/** Undoes {@link parkRequest} where it matters: the request id the front door chose is in the headers again. */
export function unparkRequest(req: IncomingMessage, requestId: string): void {
  req.headers['x-request-id'] = requestId;
}

/**
 * The head a response has sent is kept by Node (`_header`) as a tree of the strings it was joined from (some thirty
 * for an event stream), and after sending Node reads only whether there is one. A stream that stays open keeps one
 * flat copy instead. Call after the first write (which sends the head).
 */
export function flattenSentHead(res: ServerResponse): void {
  const sent = res as unknown as { _header?: unknown; headersSent: boolean };
  if (sent.headersSent && typeof sent._header === 'string') sent._header = flat(sent._header);
}

/** A flat copy of a string of one-byte characters (a head, a request id): one string instead of a tree of joined ones. */
export function flat(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}
