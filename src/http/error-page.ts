import type { Context } from 'koa';
import { tFor } from '../views/context.js';
import { messagePage } from '../views/sign-in.js';
import { HttpError } from './errors.js';

/**
 * How any error becomes an answer: the one place that decides status, headers and body. A protocol client (any
 * request that does not prefer HTML) gets `{error, error_description}`; a person gets a page in their language.
 * A 5xx never shows its message.
 */
export interface Described {
  status: number;
  error: string;
  description: string;
  headers: Record<string, string>;
  field?: string;
  page: string;
}

export function describeError(ctx: Context, err: unknown): Described {
  const t = tFor(ctx);
  if (err instanceof HttpError) {
    const text = err.expose ? (err.key ? t(err.key, err.vars) : err.message) : t('common.error.generic');
    const title = err.status === 429 ? t('throttle.title') : t('error.title.cannot');
    return {
      status: err.status,
      error: err.error,
      description: err.expose ? err.message : 'internal error',
      headers: err.headers,
      ...(err.field ? { field: err.field } : {}),
      page: messagePage({ lang: t('lang.tag'), title, message: text, status: 'error' }),
    };
  }
  const e = err as { status?: unknown; expose?: unknown; message?: unknown };
  const status = typeof e.status === 'number' && e.status >= 400 && e.status < 600 ? e.status : 500;
  const expose = status < 500 && e.expose === true;
  return {
    status,
    error: status < 500 ? 'invalid_request' : 'server_error',
    description: expose ? String(e.message) : 'internal error',
    headers: {},
    page: messagePage({
      lang: t('lang.tag'),
      title: t('common.error.title'),
      message: expose ? String(e.message) : t('common.error.generic'),
      status: 'error',
    }),
  };
}

/** Writes the answer for `err` to the response (JSON for protocol clients, a page for people). */
export function renderError(ctx: Context, err: unknown, opts: { json?: boolean } = {}): Described {
  const d = describeError(ctx, err);
  ctx.status = d.status;
  ctx.set(d.headers);
  if (opts.json || ctx.accepts('json', 'html') !== 'html') {
    ctx.body = { error: d.error, error_description: d.description, ...(d.field ? { field: d.field } : {}) };
  } else {
    ctx.type = 'html';
    ctx.body = d.page;
  }
  return d;
}
