import { readFileSync } from 'node:fs';
import Router from '@koa/router';

/**
 * Scripts our own pages load from this origin (the CSP allows 'self' and nothing else), read once at start; plugins
 * (the demo) add their own.
 */
const read = (path: string) => readFileSync(new URL(`../../../src/${path}`, import.meta.url), 'utf8');
const ASSETS: Record<string, string> = {
  'qr-login.js': read('qr-login/assets/qr-login.js'),
  'qr-phone.js': read('qr-login/assets/qr-phone.js'),
  'passkeys.js': read('accounts/assets/passkeys.js'),
  'self-service.js': read('accounts/assets/self-service.js'),
  'ciba.js': read('ciba/assets/ciba.js'),
  'decide.js': read('device/assets/decide.js'),
};

/** Reads a page script shipped beside the sources (`src/<path>`). */
export const readAsset = read;

export function assetRoutes(extra: Record<string, string> = {}): Router {
  const assets: Record<string, string> = { ...ASSETS, ...extra };
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
