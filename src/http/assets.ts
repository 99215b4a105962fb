import { readFileSync } from 'node:fs';
import Router from '@koa/router';

/** Scripts our own pages load from this origin (the CSP allows 'self' and nothing else). Read once at start. */
const ASSETS: Record<string, string> = {
  'qr-login.js': readFileSync(new URL('../../../src/qr-login/assets/qr-login.js', import.meta.url), 'utf8'),
};

export function assetRoutes(): Router {
  const router = new Router();
  router.get('/assets/:name', (ctx) => {
    const body = ASSETS[ctx.params.name ?? ''];
    if (body === undefined) return;
    ctx.type = 'application/javascript';
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = body;
  });
  return router;
}
