import { readFileSync } from 'node:fs';
import Router from '@koa/router';

/**
 * Scripts our own pages load from this origin (the CSP allows 'self' and nothing else). Read once at start; the
 * demo TV's script only outside production.
 */
const read = (path: string) => readFileSync(new URL(`../../../src/${path}`, import.meta.url), 'utf8');
const ASSETS: Record<string, string> = {
  'qr-login.js': read('qr-login/assets/qr-login.js'),
  'qr-phone.js': read('qr-login/assets/qr-phone.js'),
};
const DEMO_ASSETS: Record<string, string> = { 'tv.js': read('demo/assets/tv.js') };

export function assetRoutes(opts: { demo: boolean }): Router {
  const assets = opts.demo ? { ...ASSETS, ...DEMO_ASSETS } : ASSETS;
  const router = new Router();
  router.get('/assets/:name', (ctx) => {
    const name = ctx.params.name ?? '';
    const body = Object.hasOwn(assets, name) ? assets[name] : undefined;
    if (body === undefined) return;
    ctx.type = 'application/javascript';
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = body;
  });
  return router;
}
