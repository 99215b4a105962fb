import type { IncomingMessage } from 'node:http';
import { type ParsedUrlQuery, parse as parseQuery } from 'node:querystring';
import contentType from 'content-type';
import type { Context } from 'koa';
import typeis from 'type-is';
import { badRequest, HttpError } from './errors.js';

/**
 * The one request reader of the public and admin ports. A request's body is read once, whatever its framing
 * (`Content-Length` or chunked) and within one limit, and every reader after that gets the same bytes: our guards
 * and routes through {@link readBody}, oidc-provider through the request stream, which is given the same bytes back
 * (see {@link replay}). Forms are decoded and parsed exactly as oidc-provider parses them (its body reader: the
 * declared charset through `TextDecoder`, then `querystring.parse`), so a guard never reads a request otherwise than
 * the library that acts on it: a chunked body, a declared charset or a repeated field means the same to both.
 *
 * oidc-provider refuses bodies over 56 KiB itself, so no limit here is larger.
 */
export const LIBRARY_BODY_LIMIT = 56 * 1024;

/** Each request's body, decoded with the declared charset (UTF-8 without one) as oidc-provider decodes it. */
const reads = new WeakMap<IncomingMessage, Promise<string>>();

const tooLarge = (limit: number) => new HttpError(413, 'invalid_request', `request body exceeds ${limit} bytes`);

/** The declared `Content-Length` as Koa reads it (`ctx.request.length`), or undefined. */
export function declaredLength(req: IncomingMessage): number | undefined {
  const header = req.headers['content-length'];
  if (header === undefined || header === '') return undefined;
  return Math.trunc(Number(header)) || 0;
}

/**
 * The charsets of the last `Content-Type` values seen with parameters: a client sends the same header on every
 * request (`application/x-www-form-urlencoded;charset=UTF-8` from fetch), parsed once. At most 64 are kept; others are
 * parsed each time.
 */
const charsets = new Map<string, string>();

/** The declared charset as Koa reads it (`ctx.charset`): '' when there is none or the header does not parse. */
export function charsetOf(req: IncomingMessage): string {
  // No parameters, no charset (the common case, without the parser's regular expressions).
  const type = req.headers['content-type'];
  if (type === undefined || !type.includes(';')) return '';
  const known = charsets.get(type);
  if (known !== undefined) return known;
  let charset = '';
  try {
    charset = contentType.parse(req).parameters.charset ?? '';
  } catch {
    // '' as Koa: a header that does not parse declares no charset.
  }
  if (charsets.size < 64) charsets.set(type, charset);
  return charset;
}

/** Whether the request carries a body of media type `type`, as Koa's `ctx.is` (and so oidc-provider) decides it. */
export function bodyIs(req: IncomingMessage, type: string): boolean {
  return typeis(req, [type]) === type;
}

/**
 * Gives the request stream its bytes back after they were read here: on this request object only, the members a body
 * reader uses (`readable`, `readableEncoding`, `iterator` and async iteration; oidc-provider's reader uses exactly
 * these) are shadowed by those of a stream that yields the same bytes. Shadowing costs nothing per later access; a
 * Proxy around the request would run on every one of the dozens of header and socket reads that follow.
 */
function replay(req: IncomingMessage, bytes: Buffer): void {
  let consumed = false;
  // A generator, not a stream: the bytes are already here, and the reader iterates once.
  async function* once() {
    consumed = true;
    yield bytes;
  }
  Object.defineProperties(req, {
    readable: { configurable: true, get: () => !consumed },
    readableEncoding: { configurable: true, get: () => null },
    iterator: { configurable: true, value: once },
    [Symbol.asyncIterator]: { configurable: true, value: once },
  });
}

/**
 * Bodies read with `restore: false`, whose bytes the request gets back at {@link restoreBody}: kept as a latin1 string
 * (one character per byte), which for an ASCII body (a protocol form is one) is the decoded text itself, so a held
 * request keeps its body once. Not as a Buffer: a small Buffer is a slice of a shared 64 KiB pool slab, and one kept
 * slice keeps the whole slab (bench/README.md, memory per wait).
 */
const unrestored = new WeakMap<IncomingMessage, string>();

/**
 * Gives a request read with `restore: false` its bytes back, for the library's reader (the public lane does this
 * when it hands a request on to the app). Until then the request object is left as Node made it: a held request
 * keeps no replay of its own (bench/README.md, memory per wait).
 */
export function restoreBody(req: IncomingMessage): void {
  const kept = unrestored.get(req);
  if (kept === undefined) return;
  unrestored.delete(req);
  replay(req, Buffer.from(kept, 'latin1'));
}

/**
 * The request's bytes as they arrive, whatever the framing: refused past `limit`, and failed when the stream fails or
 * closes before its end (the client went away). Listened to with the stream's events rather than its async iterator,
 * which costs a promise and a read call per chunk (a protocol form is one chunk).
 */
function collect(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (req.readableEnded) return resolve(Buffer.alloc(0));
    if (req.destroyed) return reject(badRequest('the request body was not received'));
    const chunks: Buffer[] = [];
    let received = 0;
    const stop = () => {
      req.off('data', data);
      req.off('end', end);
      req.off('error', fail);
      req.off('close', closed);
    };
    const data = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) {
        stop();
        req.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const end = () => {
      stop();
      resolve(Buffer.concat(chunks, received));
    };
    const fail = (err: Error) => {
      stop();
      reject(err);
    };
    const closed = () => fail(badRequest('the request body was not received'));
    req.on('data', data);
    req.on('end', end);
    req.on('error', fail);
    req.on('close', closed);
  });
}

async function readOnce(req: IncomingMessage, limit: number, restore: boolean): Promise<string> {
  const declared = declaredLength(req);
  if (declared !== undefined && declared > limit) throw tooLarge(limit);
  const bytes = await collect(req, limit);
  const received = bytes.length;
  if (declared !== undefined && received !== declared) throw badRequest('request size did not match content length');
  const charset = charsetOf(req);
  let text: string;
  try {
    text = charset ? new TextDecoder(charset).decode(bytes) : bytes.toString();
  } catch {
    throw badRequest(`unsupported charset ${JSON.stringify(charset.slice(0, 40))}`);
  }
  if (restore) replay(req, bytes);
  else {
    const latin1 = bytes.toString('latin1');
    unrestored.set(req, latin1 === text ? text : latin1);
  }
  return text;
}

/**
 * This request's body as text, read once (the first call reads, every later one gets the same answer). Refused with 413
 * past `limit` (declared or received), 400 when fewer or more bytes arrive than declared or the charset is unknown.
 */
export function readBody(req: IncomingMessage, limit: number, opts: { restore?: boolean } = {}): Promise<string> {
  let read = reads.get(req);
  if (!read) {
    read = readOnce(req, Math.min(limit, LIBRARY_BODY_LIMIT), opts.restore ?? true);
    reads.set(req, read);
  } else if (opts.restore ?? true) restoreBody(req);
  return read;
}

/**
 * Replaces the body every later reader of this request gets (a guard that rewrites a form, e.g. a default scope): the
 * bytes, and the declared length to match them.
 */
export function rewriteBody(req: IncomingMessage, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  // The rewritten form is UTF-8: a declared charset no longer describes it.
  const type = req.headers['content-type'];
  if (typeof type === 'string') req.headers['content-type'] = type.replace(/;.*$/, '');
  req.headers['content-length'] = String(bytes.length);
  replay(req, bytes);
  reads.set(req, Promise.resolve(text));
}

/**
 * The form of a protocol request (`application/x-www-form-urlencoded`), parsed as oidc-provider parses it; undefined
 * when the request carries no form (the library then reads none either). A repeated field is an array here, as there.
 */
export async function protocolForm(
  req: IncomingMessage,
  limit: number,
  opts: { restore?: boolean } = {},
): Promise<ParsedUrlQuery | undefined> {
  if (!bodyIs(req, 'application/x-www-form-urlencoded')) return undefined;
  return parseQuery(await readBody(req, limit, opts));
}

/** One field of a parsed form: its value when sent once; undefined when absent or repeated (which the library refuses). */
export function field(form: ParsedUrlQuery | undefined, name: string): string | undefined {
  const v = form?.[name];
  return typeof v === 'string' ? v : undefined;
}

/** Whether a field is present at all, once or repeated. */
export const hasField = (form: ParsedUrlQuery | undefined, name: string): boolean => form?.[name] !== undefined;

/** Whether a field carries a value oidc-provider takes as set (a non-empty string, or a repeated field). */
export const truthy = (form: ParsedUrlQuery | undefined, name: string): boolean => {
  const v = form?.[name];
  return Array.isArray(v) ? v.length > 0 : !!v;
};

/** A form as a query string again (for a guard that rewrites it). */
export function formText(form: ParsedUrlQuery): string {
  const pairs: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v ?? '']) pairs.push([k, x]);
  return new URLSearchParams(pairs).toString();
}

/** The body of one of our own routes as text: read by the one reader; text that is not valid UTF-8 is refused. */
async function ownText(ctx: Context, limit: number): Promise<string> {
  const text = await readBody(ctx.req, limit);
  if (text.includes('\uFFFD')) throw badRequest('request body is not valid UTF-8');
  return text;
}

/** A JSON object body (`application/json`); with `emptyIsObject`, no body at all reads as `{}`. */
export async function readJsonObject(
  ctx: Context,
  limit: number,
  opts: { emptyIsObject?: boolean } = {},
): Promise<Record<string, unknown>> {
  if (opts.emptyIsObject && !ctx.get('content-type') && !ctx.request.length) return {};
  if (!ctx.is('application/json') && !(opts.emptyIsObject && ctx.get('content-type').startsWith('application/json')))
    throw new HttpError(415, 'invalid_request', 'Content-Type must be application/json');
  const text = await ownText(ctx, limit);
  if (opts.emptyIsObject && text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw badRequest('body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw badRequest('body must be a JSON object');
  assertStorable(parsed, 0);
  return parsed as Record<string, unknown>;
}

/**
 * PostgreSQL's text and jsonb hold neither U+0000 nor unpaired surrogates (`"\ud800"` is valid JSON): such input
 * is refused up front, in keys and values alike, instead of failing a statement later.
 */
function assertStorable(value: unknown, depth: number): void {
  if (depth > 32) throw badRequest('body is nested too deeply');
  const bad = (s: string) => s.includes('\u0000') || !s.isWellFormed();
  if (typeof value === 'string') {
    if (bad(value)) throw badRequest('body contains a NUL character or an unpaired surrogate');
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const [k, v] of Object.entries(value)) {
    if (bad(k)) throw badRequest('body contains a NUL character or an unpaired surrogate');
    assertStorable(v, depth + 1);
  }
}

/**
 * A form of one of our own pages (`application/x-www-form-urlencoded`) as single-valued fields; a field sent twice is
 * refused, as oidc-provider refuses duplicated parameters.
 */
export async function readForm(ctx: Context, limit: number): Promise<Record<string, string>> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new HttpError(415, 'invalid_request', 'expected a form submission');
  const params = new URLSearchParams(await ownText(ctx, limit));
  const out: Record<string, string> = {};
  for (const [k, v] of params) {
    if (Object.hasOwn(out, k)) throw badRequest(`${k} was sent more than once`);
    out[k] = v;
  }
  return out;
}

/**
 * The client id of a token-endpoint style request: from HTTP Basic (RFC 6749 2.3.1), else the form. When both name a
 * client and they differ, there is none (oidc-provider refuses such a request: `client_id mismatch`).
 */
export function clientIdOf(form: ParsedUrlQuery | undefined, authorization: string): string | undefined {
  const posted = field(form, 'client_id');
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(authorization);
  if (!m) return posted;
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    const id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
    return posted === undefined || posted === id ? id : undefined;
  } catch {
    return undefined;
  }
}
