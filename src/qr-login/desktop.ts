import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import QRCode from 'qrcode';
import { hit } from '../accounts/throttle.js';
import type { Config } from '../config/schema.js';
import { maskedAccountName } from '../device/handoff-state.js';
import type { WaitRegistry } from '../device/waits.js';
import type { EventBus } from '../events/bus.js';
import { readForm } from '../http/body.js';
import { HttpError } from '../http/errors.js';
import { openEventStream } from '../http/event-stream.js';
import { csrfToken, type Details, loadInteraction } from '../oidc/interactions.js';
import type { Db } from '../storage/db.js';
import { safeEqual } from '../storage/hash.js';
import { tFor } from '../views/context.js';
import type { SafeHtml } from '../views/html.js';
import { qrSection } from '../views/qr-login.js';
import { effectiveState, issueTicket, retire, type Ticket, ticketForDesktop, ticketKey, use } from './tickets.js';

/**
 * The desktop side of scan-to-sign-in, all bound to the sign-in's interaction (and so to this browser by
 * oidc-provider's interaction cookie): the QR section of the login page, rotation, the ticket's event stream, and
 * completion, where the desktop's own request (CSRF-protected, cookie-bound) finishes the login. Nothing that grants
 * access passes through the phone or the stream.
 */
export interface QrDesktopDeps {
  config: Config;
  db: Db;
  issuer: string;
  provider: () => Provider;
  csrfKey: () => string;
  bus: EventBus;
  waits: WaitRegistry;
}

/** Clients opt out with the metadata `qr_login: false`; on by default. */
async function enabledFor(provider: Provider, clientId: unknown): Promise<boolean> {
  const client = typeof clientId === 'string' ? await provider.Client.find(clientId) : undefined;
  return !!client && client.metadata().qr_login !== false;
}

export function qrDesktop(deps: QrDesktopDeps) {
  const { db, config } = deps;

  async function newTicket(ctx: Context, d: Details) {
    const limit = await hit(db, { bucket: 'qr-ticket:ip', key: ctx.ip, windowSeconds: 60 });
    if (limit.count > config.qrLogin.maxTicketsPerIp) return undefined;
    const ticket = await issueTicket(db, {
      interactionUid: d.uid,
      clientId: String(d.params.client_id),
      scope: String(d.params.scope ?? ''),
      ip: ctx.ip,
      ua: ctx.get('user-agent') || undefined,
      seconds: config.qrLogin.ticketSeconds,
    });
    const qr = await QRCode.toDataURL(`${deps.issuer}/q/${ticket.secret}`, { errorCorrectionLevel: 'M', margin: 4, width: 480 });
    return { id: ticket.id, qr };
  }

  async function section(ctx: Context, d: Details, csrf: string): Promise<SafeHtml | undefined> {
    if (!(await enabledFor(deps.provider(), d.params.client_id))) return undefined;
    const ticket = await newTicket(ctx, d);
    if (!ticket) return undefined;
    const base = `/interaction/${d.uid}/qr`;
    return qrSection(tFor(ctx), {
      qr: ticket.qr,
      ticket: ticket.id,
      events: `${base}/events`,
      rotate: `${base}/rotate`,
      complete: `${base}/complete`,
      csrf,
      rotateSeconds: config.qrLogin.rotateSeconds,
      maxRotations: config.qrLogin.maxRotations,
    });
  }

  async function checked(ctx: Context): Promise<{ d: Details; form: Record<string, string> }> {
    const d = await loadInteraction(ctx, deps.provider());
    if (d.prompt.name !== 'login') throw new HttpError(400, 'invalid_request', 'This sign-in is already past the login step.');
    const form = await readForm(ctx, config.bodyLimitBytes);
    if (!safeEqual(form.csrf ?? '', csrfToken(deps.csrfKey(), d.uid)))
      throw new HttpError(403, 'invalid_request', 'This form has expired. Reload the page.');
    return { d, form };
  }

  async function view(t: Ticket): Promise<{ state: string; account?: string }> {
    const state = effectiveState(t);
    if (state === 'issued') return { state: 'pending' };
    if (state === 'scanned' && t.account_id) {
      const account = await maskedAccountName(db, t.account_id);
      return account ? { state, account } : { state };
    }
    return { state };
  }

  const router = new Router();

  router.post('/interaction/:uid/qr/rotate', async (ctx) => {
    const { d, form } = await checked(ctx);
    if (form.ticket) await retire(db, form.ticket, d.uid);
    if (form.ticket) await deps.bus.publish(ticketKey(form.ticket));
    const ticket = await newTicket(ctx, d);
    if (!ticket)
      throw new HttpError(429, 'slow_down', 'too many codes; use your password or wait a minute', { headers: { 'Retry-After': '60' } });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { ticket: ticket.id, qr: ticket.qr };
  });

  router.get('/interaction/:uid/qr/events', async (ctx) => {
    const d = await loadInteraction(ctx, deps.provider());
    const id = typeof ctx.query.ticket === 'string' ? ctx.query.ticket : '';
    const first = await ticketForDesktop(db, id, d.uid);
    if (!first) throw new HttpError(404, 'not_found', 'no such code for this sign-in');
    openEventStream(ctx, { bus: deps.bus, waits: deps.waits, ...config.realtime }, ticketKey(id), async () => {
      const t = await ticketForDesktop(db, id, d.uid);
      if (!t) return undefined;
      const shown = await view(t);
      const final = !['pending', 'scanned'].includes(shown.state);
      return { data: shown, final, changesAt: new Date(t.expires_at).getTime() + 50 };
    });
  });

  router.post('/interaction/:uid/qr/complete', async (ctx) => {
    const { d, form } = await checked(ctx);
    const used = await use(db, form.ticket ?? '', d.uid);
    if (!used?.account_id)
      throw new HttpError(400, 'invalid_request', 'This code was not approved, or was already used. Reload the page for a new one.');
    await deps.bus.publish(ticketKey(used.id));
    const returnTo = await deps
      .provider()
      .interactionResult(ctx.req, ctx.res, { login: { accountId: used.account_id } }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  return { router, section };
}
