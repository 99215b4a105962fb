import Router from '@koa/router';
import type { Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config/schema.js';
import { renderConfirm } from '../oidc/device-pages.js';
import type { Db } from '../storage/db.js';
import { sha256 } from '../storage/hash.js';
import { tFor } from '../views/context.js';
import { codeEntryPage, outcomePage } from '../views/device.js';
import { addressKey } from '../http/address.js';
import { LimitExceeded, take } from '../http/limits.js';
import { canonicalPath } from '../http/protocol-routes.js';
import { RateLimited, type UserCodeGuard } from './limits.js';
import { openUserCode, type QrFormat, renderQr, sealUserCode, verificationUriComplete } from './qr.js';
import { normalizeUserCode } from './user-code.js';

export interface DeviceRouteDeps {
  config: Config;
  db: Db;
  issuer: string;
  provider: () => Provider;
  guard: UserCodeGuard;
  /** Cookie keys, newest first: roots of the key that seals QR handles. */
  secrets: () => string[];
}

/**
 * Adds to the device authorization response (RFC 8628 3.2) what oidc-provider leaves out: `interval`,
 * `verification_uri_complete_qr`, an SVG of the QR code (`.png` and `.txt` variants at the same path), and
 * `status_uri`, a live status stream for the waiting screen (status-stream.ts).
 */
export function enrichDeviceAuthorization(deps: DeviceRouteDeps): Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.method !== 'POST' || canonicalPath(ctx.path) !== '/device/auth' || ctx.status !== 200) return;
    const body = ctx.body as Record<string, unknown> | undefined;
    const code = typeof body?.user_code === 'string' ? normalizeUserCode(body.user_code) : undefined;
    if (!body || !code) return;
    body.interval = deps.config.device.pollInterval;
    body.verification_uri_complete_qr = `${deps.issuer}/device/qr/${sealUserCode(code, deps.secrets()[0] ?? '')}.svg`;
    const handle = ctx.state.statusHandle as string | undefined;
    if (handle) body.status_uri = `${deps.issuer}/device/status/${handle}`;
  };
}

/**
 * Opening `verification_uri_complete` (the QR) shows the confirmation page straight away, instead of
 * oidc-provider's self-submitting form. It never approves anything by itself: the page asks first. Lookups count
 * against the same guessing limits as typed codes.
 */
export function confirmFromLink(deps: DeviceRouteDeps): Middleware {
  return async (ctx, next) => {
    await next();
    const raw = ctx.query.user_code;
    if (ctx.method !== 'GET' || canonicalPath(ctx.path) !== '/device' || typeof raw !== 'string' || ctx.status !== 200) return;
    const octx = ctx as unknown as KoaContextWithOIDC;
    const session = octx.oidc?.session;
    const userCode = normalizeUserCode(raw);
    if (!session || !userCode) return;
    const t = tFor(ctx);
    const who = { ip: ctx.ip, session: session.jti };
    try {
      await deps.guard.reserve(who);
    } catch (err) {
      if (!(err instanceof RateLimited)) throw err;
      ctx.status = 429;
      ctx.set('Retry-After', String(err.retryAfter));
      ctx.body = outcomePage(t, 'throttled', { minutes: Math.ceil(err.retryAfter / 60) });
      return;
    }
    const provider = deps.provider();
    const code = await provider.DeviceCode.findByUserCode(userCode, { ignoreExpiration: true });
    ctx.type = 'html';
    if (!code) {
      ctx.status = 400;
      const state = session.state as { secret?: string } | undefined;
      ctx.body = codeEntryPage(t, {
        action: octx.oidc.urlFor('code_verification'),
        xsrf: state?.secret ?? '',
        error: t('entry.error.notFound'),
      });
      return;
    }
    await deps.guard.refund(who);
    if (code.isExpired) {
      ctx.body = outcomePage(t, 'expired');
      return;
    }
    if (code.error || code.accountId || code.inFlight) {
      ctx.body = outcomePage(t, 'used');
      return;
    }
    const client = await provider.Client.find(code.clientId ?? '');
    if (!client) {
      ctx.status = 400;
      ctx.body = outcomePage(t, 'error');
      return;
    }
    renderConfirm(octx, {
      code: code as { params?: { scope?: string }; iat?: number },
      client,
      deviceInfo: code.deviceInfo as { ip?: string; ua?: string } | undefined,
      userCode: raw.toUpperCase().trim(),
    });
  };
}

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
 * `GET /device/qr/<handle>.(svg|png|txt)`: the QR of a live device code, cacheable for the code's remaining life.
 * Requests are limited per address (`device.maxQrImagesPerIp` a minute), and each image is rendered once.
 */
export function qrRoutes(deps: DeviceRouteDeps): Router {
  const router = new Router();
  const cache = new QrCache(1024);
  router.get('/device/qr/:file', async (ctx) => {
    try {
      await take(deps.db, [
        { bucket: 'qr-image:ip', key: addressKey(ctx.ip), windowSeconds: 60, max: deps.config.device.maxQrImagesPerIp },
      ]);
    } catch (err) {
      if (!(err instanceof LimitExceeded)) throw err;
      ctx.status = 429;
      ctx.set('Retry-After', String(err.retryAfter));
      ctx.type = 'text/plain';
      ctx.body = 'too many requests';
      return;
    }
    const match = /^([\w-]+)\.(svg|png|txt)$/.exec(ctx.params.file ?? '');
    const userCode = match ? openUserCode(match[1] as string, deps.secrets()) : undefined;
    const row = userCode
      ? await deps
          .db('oidc_store')
          .first<{ remaining: number } | undefined>(
            deps.db.raw(`(payload->>'exp')::bigint - extract(epoch from now())::bigint AS remaining`),
          )
          .where({ model: 'DeviceCode', user_code_hash: sha256(userCode) })
          .whereRaw(`payload->>'accountId' IS NULL AND payload->>'error' IS NULL`)
      : undefined;
    if (!match || !userCode || !row || row.remaining <= 0) {
      ctx.status = 404;
      ctx.type = 'text/plain';
      ctx.body = 'not found';
      return;
    }
    const format = match[2] as QrFormat;
    const { type, body } = await cache.get(`${userCode}.${format}`, () => renderQr(verificationUriComplete(deps.issuer, userCode), format));
    ctx.set('Cache-Control', `private, max-age=${row.remaining}`);
    ctx.set('Expires', new Date(Date.now() + row.remaining * 1000).toUTCString());
    ctx.type = type;
    ctx.body = body;
  });
  return router;
}
