import { createHmac } from 'node:crypto';
import Router from '@koa/router';
import type Provider from 'oidc-provider';
import { RETURN_COOKIE, sessionOf } from '../accounts/routes.js';
import { hit } from '../accounts/throttle.js';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import { readForm } from '../http/body.js';
import { HttpError } from '../http/errors.js';
import { audit } from '../ops/audit.js';
import type { Db } from '../storage/db.js';
import { safeEqual } from '../storage/hash.js';
import { tFor } from '../views/context.js';
import { outcomePage } from '../views/device.js';
import { phoneConfirmPage, phoneOutcomePage } from '../views/qr-login.js';
import { sameNetwork } from './network.js';
import { decide, scan, ticketById, ticketKey } from './tickets.js';

/**
 * The phone side of scan-to-sign-in. `GET /q/<ticket>` (the QR code's URL) needs a signed-in phone (otherwise it
 * signs in first and comes back), claims the ticket for this phone session, and shows who is asking; `POST
 * /q/decide` approves or declines, only from the session that claimed the ticket, with a CSRF token bound to both.
 */
export interface QrPhoneDeps {
  config: Config;
  db: Db;
  provider: () => Provider;
  csrfKey: () => string;
  bus: EventBus;
  onOutcome?: (kind: 'device' | 'desktop', outcome: 'approved' | 'denied' | 'revoked') => void;
}

const TICKET = /^[\w-]{43}$/;

export function qrPhoneRoutes(deps: QrPhoneDeps): Router {
  const { db, config } = deps;
  const router = new Router();
  const csrfFor = (sessionUid: string, ticketId: string) =>
    createHmac('sha256', deps.csrfKey()).update(`qr:${sessionUid}:${ticketId}`).digest('base64url');

  router.get('/q/:ticket', async (ctx) => {
    const t = tFor(ctx);
    const secret = ctx.params.ticket ?? '';
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    const limit = await hit(db, { bucket: 'qr-scan:ip', key: ctx.ip, windowSeconds: 60 });
    if (limit.count > config.qrLogin.maxScansPerIp) {
      ctx.status = 429;
      ctx.set('Retry-After', String(Math.max(1, limit.retryAfter)));
      ctx.body = outcomePage(t, 'throttled', { minutes: 1 });
      return;
    }
    if (!TICKET.test(secret)) {
      ctx.status = 404;
      ctx.body = phoneOutcomePage(t, 'unknown');
      return;
    }
    const provider = deps.provider();
    const phone = await sessionOf(ctx, provider);
    if (!phone) {
      ctx.cookies.set(RETURN_COOKIE, `/q/${secret}`, { signed: true, httpOnly: true, sameSite: 'lax', maxAge: 10 * 60 * 1000 });
      ctx.redirect('/account/signin');
      return;
    }
    const result = await scan(
      db,
      secret,
      { sessionId: phone.sessionId, accountId: phone.accountId, ip: ctx.ip },
      config.qrLogin.confirmSeconds,
    );
    if (!result.ok) {
      ctx.status = result.reason === 'unknown' ? 404 : 409;
      ctx.body = phoneOutcomePage(t, result.reason === 'claimed' ? 'claimed' : result.reason === 'expired' ? 'expired' : 'unknown');
      return;
    }
    const ticket = result.ticket;
    await deps.bus.publish(ticketKey(ticket.id));
    const client = await provider.Client.find(ticket.client_id);
    ctx.body = phoneConfirmPage(t, {
      action: '/q/decide',
      csrf: csrfFor(phone.sessionUid, ticket.id),
      ticket: ticket.id,
      client: { name: client?.clientName ?? ticket.client_id, uri: client?.clientUri },
      scopes: (ticket.scope ?? '').split(' ').filter(Boolean),
      desktop: { ip: ticket.desktop_ip, ua: ticket.desktop_ua, at: new Date(ticket.created_at) },
      otherNetwork: !sameNetwork(ticket.desktop_ip, ctx.ip),
    });
  });

  router.post('/q/decide', async (ctx) => {
    const t = tFor(ctx);
    const provider = deps.provider();
    const phone = await sessionOf(ctx, provider);
    if (!phone) throw new HttpError(401, 'login_required', 'Sign in on this phone again, then scan the code again.');
    const form = await readForm(ctx, config.bodyLimitBytes);
    const id = form.ticket ?? '';
    if (!safeEqual(form.csrf ?? '', csrfFor(phone.sessionUid, id)))
      throw new HttpError(403, 'invalid_request', 'This form has expired. Scan the code again.');
    const approve = form.decision === 'approve';
    const decided = await decide(db, id, phone.sessionId, approve);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    if (!decided) {
      const now = await ticketById(db, id);
      ctx.status = 409;
      ctx.body = phoneOutcomePage(t, now ? 'expired' : 'unknown');
      return;
    }
    await deps.bus.publish(ticketKey(decided.id));
    await audit(db, {
      action: approve ? 'desktop.approved' : 'desktop.denied',
      accountId: decided.account_id,
      clientId: decided.client_id,
      deviceIp: decided.desktop_ip,
      deviceUa: decided.desktop_ua,
      actorIp: ctx.ip,
    });
    deps.onOutcome?.('desktop', approve ? 'approved' : 'denied');
    const client = await provider.Client.find(decided.client_id);
    ctx.body = phoneOutcomePage(t, approve ? 'approved' : 'denied', client?.clientName ?? decided.client_id);
  });
  return router;
}
