import type { Context } from 'koa';
import { badRequest, HttpError } from './errors.js';

/**
 * Reads a request body with a hard size limit: a declared Content-Length over the limit is refused before any
 * byte is read, and a stream that grows past it is cut off (413 either way).
 */
export async function readRaw(ctx: Context, limit: number): Promise<string> {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limit) throw new HttpError(413, 'invalid_request', `request body exceeds ${limit} bytes`);
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of ctx.req) {
    const buf = chunk as Buffer;
    received += buf.length;
    if (received > limit) throw new HttpError(413, 'invalid_request', `request body exceeds ${limit} bytes`);
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks, received).toString('utf8');
  if (text.includes('\uFFFD')) throw badRequest('request body is not valid UTF-8');
  return text;
}

/** A JSON object body (`application/json`). */
export async function readJsonObject(ctx: Context, limit: number): Promise<Record<string, unknown>> {
  if (!ctx.is('application/json')) throw new HttpError(415, 'invalid_request', 'Content-Type must be application/json');
  const text = await readRaw(ctx, limit);
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
 * An `application/x-www-form-urlencoded` body as single-valued fields; a field sent twice is refused, as
 * oidc-provider refuses duplicated parameters.
 */
export async function readForm(ctx: Context, limit: number): Promise<Record<string, string>> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new HttpError(415, 'invalid_request', 'expected a form submission');
  const params = new URLSearchParams(await readRaw(ctx, limit));
  const out: Record<string, string> = {};
  for (const [k, v] of params) {
    if (Object.hasOwn(out, k)) throw badRequest(`${k} was sent more than once`);
    out[k] = v;
  }
  return out;
}

/**
 * The raw body of a form a protocol endpoint will also read (the device token endpoint, the device authorization
 * ceiling): at most oidc-provider's own 56 KiB, with a declared length; undefined otherwise (then the request goes to
 * oidc-provider unread). Give it back with `replayBody` (oidc/seams.ts).
 */
export async function readProtocolForm(ctx: Context): Promise<Buffer | undefined> {
  const length = ctx.request.length;
  if (length === undefined || length > 56 * 1024 || !ctx.is('application/x-www-form-urlencoded')) return undefined;
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false })) {
    const buf = chunk as Buffer;
    received += buf.length;
    chunks.push(buf);
    if (received >= length) break;
  }
  return Buffer.concat(chunks, received);
}

/** The client id of a token-endpoint style request: from HTTP Basic (RFC 6749 2.3.1), else the form. */
export function clientIdOf(form: URLSearchParams, authorization: string): string | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(authorization);
  if (!m) return form.get('client_id') ?? undefined;
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}
