import type { MessageKey } from '../views/i18n.js';

/**
 * The one error base of Handoff's own routes. Each carries an HTTP `status`, an RFC-style `error` code, headers to
 * send, and what a person reads: a message key of the catalogs (views/i18n.ts), drawn in the reader's language by
 * the error middleware (app.ts). `message` is the English text for logs and JSON answers. Errors with status >= 500
 * never show their message (`expose` is false), as in oidc-provider and Koa.
 */
export interface ErrorOptions {
  field?: string;
  headers?: Record<string, string>;
  /** What the page says, in the reader's language; without it, `message` is shown as it is. */
  key?: MessageKey;
  vars?: Record<string, string | number>;
  /** The way onward a page offers first (e.g. back to the sign-in that failed), besides the home page. */
  next?: { href: string; key: MessageKey };
}

export class HttpError extends Error {
  readonly status: number;
  readonly error: string;
  readonly expose: boolean;
  readonly headers: Record<string, string>;
  /** The input field at fault, when there is one (admin API validation). */
  readonly field: string | undefined;
  readonly key: MessageKey | undefined;
  readonly vars: Record<string, string | number>;
  readonly next: { href: string; key: MessageKey } | undefined;

  constructor(status: number, error: string, description: string, opts: ErrorOptions = {}) {
    super(description);
    this.name = 'HttpError';
    this.status = status;
    this.error = error;
    this.expose = status < 500;
    this.field = opts.field;
    this.headers = opts.headers ?? {};
    this.key = opts.key;
    this.vars = opts.vars ?? {};
    this.next = opts.next;
  }
}

/**
 * Too many requests: 429 with `Retry-After`, and RFC 8628's `slow_down` as its code (the answer every client of a
 * protocol endpoint understands). Every limit refuses with this error (http/limits.ts); no route builds a 429 itself.
 */
export class TooManyRequests extends HttpError {
  readonly retryAfter: number;
  constructor(description: string, retryAfter: number, opts: { key?: MessageKey } = {}) {
    const seconds = Math.max(1, Math.ceil(retryAfter));
    super(429, 'slow_down', description, {
      headers: { 'Retry-After': String(seconds) },
      key: opts.key ?? 'throttle.wait',
      vars: { minutes: Math.max(1, Math.ceil(seconds / 60)) },
    });
    this.name = 'TooManyRequests';
    this.retryAfter = seconds;
  }
}

export const badRequest = (description: string, field?: string) =>
  new HttpError(400, 'invalid_request', description, field === undefined ? {} : { field });
export const notFound = (description = 'not found') => new HttpError(404, 'not_found', description);
export const conflict = (description: string, field?: string) =>
  new HttpError(409, 'conflict', description, field === undefined ? {} : { field });
