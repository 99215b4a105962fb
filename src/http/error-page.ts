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
  /** What a person reads, in their language (pages, and `message` in JSON for the pages' own scripts). */
  text: string;
  headers: Record<string, string>;
  field?: string;
  page: string;
}

export function describeError(ctx: Context, err: unknown): Described {
  const t = tFor(ctx);
  if (err instanceof HttpError) {
    const text = err.expose ? (err.key ? t(err.key, err.vars) : err.message) : t('common.error.generic');
    const title = err.status === 429 ? t('throttle.title') : err.status === 404 ? t('notFound.title') : t('error.title.cannot');
    // Always a way onward: a sign-in when that is what is missing, else the home page.
    const next =
      err.next && err.next.href !== '/'
        ? [
            { href: err.next.href, label: t(err.next.key), primary: true },
            { href: '/', label: t('next.home') },
          ]
        : err.error === 'login_required'
          ? [
              { href: '/account/signin', label: t('next.signIn'), primary: true },
              { href: '/', label: t('next.home') },
            ]
          : [{ href: '/', label: t('next.home') }];
    return {
      status: err.status,
      error: err.error,
      description: err.expose ? err.message : 'internal error',
      text,
      headers: err.headers,
      ...(err.field ? { field: err.field } : {}),
      page: messagePage({ lang: t('lang.tag'), title, message: text, status: 'error', next }),
    };
  }
  const e = err as { status?: unknown; expose?: unknown; message?: unknown };
  const status = typeof e.status === 'number' && e.status >= 400 && e.status < 600 ? e.status : 500;
  const expose = status < 500 && e.expose === true;
  return {
    status,
    error: status < 500 ? 'invalid_request' : 'server_error',
    description: expose ? String(e.message) : 'internal error',
    text: t('common.error.generic'),
    headers: {},
    page: messagePage({
      lang: t('lang.tag'),
      title: status === 404 ? t('notFound.title') : t('common.error.title'),
      message: status === 404 ? t('notFound.body') : status === 405 ? t('error.method') : t('common.error.generic'),
      status: 'error',
      next: [{ href: '/', label: t('next.home') }],
    }),
  };
}

/** Writes the answer for `err` to the response (JSON for protocol clients, a page for people). */
export function renderError(ctx: Context, err: unknown, opts: { json?: boolean } = {}): Described {
  const d = describeError(ctx, err);
  ctx.status = d.status;
  ctx.set(d.headers);
  if (opts.json || ctx.accepts('json', 'html') !== 'html') {
    // The public pages' scripts show `message`, the error in the reader's language; the admin API (json) has no use for it.
    ctx.body = {
      error: d.error,
      error_description: d.description,
      ...(opts.json ? {} : { message: d.text }),
      ...(d.field ? { field: d.field } : {}),
    };
  } else {
    ctx.type = 'html';
    ctx.body = d.page;
  }
  return d;
}
