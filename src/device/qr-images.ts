import Router from '@koa/router';
import type { Config } from '../config/schema.js';
import { addressKey } from '../http/address.js';
import { take } from '../http/limits.js';
import { sha256 } from '../store/hash.js';
import type { Store } from '../store/index.js';
import { openUserCode, type QrFormat, renderQr, TEXT_THEMES, type TextTheme, verificationUriComplete } from './qr.js';

/**
 * Rendered QR images by code and format. Rendering a PNG costs milliseconds of CPU, so each image is rendered once
 * per code; the cache is bounded (oldest out first) and entries die with the instance.
 */
class QrCache {
  readonly #max: number;
  readonly #entries = new Map<string, { type: string; body: string | Buffer }>();
  constructor(max: number) {
    this.#max = max;
  }
  async get(key: string, render: () => Promise<{ type: string; body: string | Buffer }>) {
    const hit = this.#entries.get(key);
    if (hit) return hit;
    const made = await render();
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, made);
    return made;
  }
}

/**
 * `GET /device/qr/<handle>.(svg|png|txt)` (`.txt?theme=ansi|dark|light`, see qr.ts): the QR of a live, undecided device code, cacheable for the code's
 * remaining life; 404 for anything else. Requests are limited per address (`device.maxQrImagesPerIp` a minute).
 */
export function qrImageRoutes(deps: { config: Config; store: Store; issuer: string; secrets: () => string[] }): Router {
  const router = new Router();
  const cache = new QrCache(1024);
  router.get('/device/qr/:file', async (ctx) => {
    await take(deps.store, [
      { bucket: 'qr-image:ip', key: addressKey(ctx.ip), windowSeconds: 60, max: deps.config.device.maxQrImagesPerIp },
    ]);
    const match = /^([\w-]+)\.(svg|png|txt)$/.exec(ctx.params.file ?? '');
    const userCode = match ? openUserCode(match[1] as string, deps.secrets()) : undefined;
    const remaining = userCode ? await deps.store.deviceCodes.qrRemaining(sha256(userCode)) : undefined;
    if (!match || !userCode || remaining === undefined) {
      ctx.status = 404;
      ctx.type = 'text/plain';
      ctx.body = 'not found';
      return;
    }
    const format = match[2] as QrFormat;
    // `.txt?theme=dark|light` for a terminal without colours; ANSI colours (any theme) otherwise.
    const requested = String(ctx.query.theme ?? 'ansi');
    const theme: TextTheme = (TEXT_THEMES as readonly string[]).includes(requested) ? (requested as TextTheme) : 'ansi';
    const key = format === 'txt' ? `${userCode}.${format}.${theme}` : `${userCode}.${format}`;
    const { type, body } = await cache.get(key, () => renderQr(verificationUriComplete(deps.issuer, userCode), format, theme));
    ctx.set('Cache-Control', `private, max-age=${remaining}`);
    ctx.set('Expires', new Date(Date.now() + remaining * 1000).toUTCString());
    ctx.type = type;
    ctx.body = body;
  });
  return router;
}
