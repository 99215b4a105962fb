import type { Context } from 'koa';
import { pickLanguage, type Translator, translator } from './i18n.js';

/** The translator for this request's `Accept-Language`. */
export function tFor(ctx: Pick<Context, 'get'>): Translator {
  return translator(pickLanguage(ctx.get('accept-language')));
}
