import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import QRCode from 'qrcode';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import type { WaitRegistry } from '../events/waits.js';
import { addressKey } from '../http/address.js';
import { readForm } from '../http/body.js';
import { checkCsrf } from '../http/csrf.js';
import { HttpError } from '../http/errors.js';
import { openEventStream } from '../http/event-stream.js';
import { TooManyRequests } from '../http/errors.js';
import { take } from '../http/limits.js';
import { ACCOUNT_CLIENT_ID } from '../accounts/client.js';
import { type Details, loadInteraction } from '../oidc/interactions.js';
import { ACR_PHISHING_RESISTANT, crossDevice, PHR_REQUIRED } from '../oidc/acr.js';
import { SCOPES } from '../oidc/scopes.js';
import type { Store } from '../store/index.js';
import { tFor } from '../views/context.js';
import type { SafeHtml } from '../views/html.js';
import { qrSection } from '../views/qr-login.js';
import { numberMatchingOn } from '../http/number-match.js';
import { looksLikePhone } from '../views/user-agent.js';
import { effectiveState, issueTicket, retire, type Ticket, ticketForDesktop, ticketKey, use } from './tickets.js';

/**
 * The desktop side of scan-to-sign-in, all bound to the sign-in's interaction (and so to this browser by
 * oidc-provider's interaction cookie): the QR section of the login page, rotation, the ticket's event stream, and
 * completion, where the desktop's own request (CSRF-protected, cookie-bound) finishes the login. Nothing that grants
 * access passes through the phone or the stream.
 *
 * What a scan grants is exactly what the phone showed: a sign-in to this relying party with these scopes (the
 * phone's approval is the consent), carrying the phone's own authentication (`auth_time`, `amr`). The desktop is
 * left with no Handoff session of its own (app.ts ends it once the relying party has its answer), so it cannot
 * sign in silently anywhere else, open the account pages or approve other codes.
 */
export interface QrDesktopDeps {
  config: Config;
  store: Store;
  issuer: string;
  provider: () => Provider;
  secrets: () => string[];
  bus: EventBus;
  waits: WaitRegistry;
}

/**
 * Whether desktop scan-to-sign-in is on for a client: on by default, off with the metadata `qr_login: false`, and
 * never for Handoff's own account pages (a scan leaves no session there to use).
 */
export async function qrLoginEnabled(provider: Provider, clientId: unknown): Promise<boolean> {
  if (typeof clientId !== 'string' || clientId === ACCOUNT_CLIENT_ID) return false;
  const client = await provider.Client.find(clientId);
  return !!client && client.metadata().qr_login !== false;
}

/**
 * `prompt=login` (or `max_age=0`) asks for a fresh sign-in on this browser: a phone's earlier sign-in cannot stand
 * in for it.
 */
function wantsFreshLogin(d: Details): boolean {
  const prompt = String(d.params.prompt ?? '').split(' ');
  return prompt.includes('login') || Number(d.params.max_age) === 0;
}

/**
 * Whether a sign-in may be finished by a desktop scan at all. A scan finishes one relying party's authorization
 * request on this browser with the phone's sign-in, so it is never for:
 * - the sign-in step of a device code (the phone is the one signing in there, and nothing may leave a session
 *   in another browser: a relayed QR would hand it the victim's session);
 * - a request for a fresh sign-in here (`prompt=login`, `max_age=0`);
 * - a request for a phishing-resistant sign-in (`acr_values=phr` or the client's default, including a pending `phr`
 *   step-up): a cross-device approval is never `phr` (oidc/acr.ts);
 * - Handoff's own account pages, or a client with `qr_login: false`.
 * Every ticket endpoint checks this, not only the page that shows the code.
 */
export async function scanFinishable(provider: Provider, d: Details): Promise<boolean> {
  if (d.deviceCode !== undefined || (d.params as { device_code?: unknown }).device_code !== undefined) return false;
  if (typeof d.params.redirect_uri !== 'string' || typeof d.params.response_type !== 'string') return false;
  if (wantsFreshLogin(d) || d.prompt.reasons.includes(PHR_REQUIRED)) return false;
  if (
    String(d.params.acr_values ?? '')
      .split(' ')
      .includes(ACR_PHISHING_RESISTANT)
  )
    return false;
  const clientId = d.params.client_id;
  if (typeof clientId !== 'string' || clientId === ACCOUNT_CLIENT_ID) return false;
  const client = await provider.Client.find(clientId);
  if (!client || client.metadata().qr_login === false) return false;
  return !((client.defaultAcrValues ?? []) as string[]).includes(ACR_PHISHING_RESISTANT);
}

/**
 * The "sign in with your phone" QR is for a computer: never shown on a phone (a phone is never asked to scan). Phones
 * are told by their client hints or user agent here, and by the page's width in its style.
 */
function onDesktop(ctx: Context): boolean {
  return !looksLikePhone(ctx.get('user-agent'), ctx.get('sec-ch-ua-mobile'));
}

/** The scan result that finishes the desktop's sign-in; `handoff.scan` tells app.ts to end the desktop session. */
export type ScanResult = {
  login: { accountId: string; ts: number; amr: string[]; acr: string; remember: false };
  consent: { grantId: string };
  handoff: { scan: string };
  [key: string]: unknown;
};

export function qrDesktop(deps: QrDesktopDeps) {
  const { store, config } = deps;

  /** A fresh ticket and its QR image; undefined when this address made too many (the page then offers only a password). */
  async function newTicket(ctx: Context, d: Details) {
    try {
      await take(store, [
        {
          bucket: 'qr-ticket:ip',
          key: addressKey(ctx.ip),
          windowSeconds: 60,
          max: config.qrLogin.maxTicketsPerIp,
          refusal: { description: 'too many codes; use your password or wait a minute' },
        },
      ]);
    } catch (err) {
      if (err instanceof TooManyRequests) return undefined;
      throw err;
    }
    const ticket = await issueTicket(store, {
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
    if (!onDesktop(ctx) || !(await scanFinishable(deps.provider(), d))) return undefined;
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

  /** The interaction of this browser at its login step, when a scan may finish it ({@link scanFinishable}). */
  async function loginStep(ctx: Context): Promise<Details> {
    const d = await loadInteraction(ctx, deps.provider());
    if (d.prompt.name !== 'login')
      throw new HttpError(400, 'invalid_request', 'This sign-in is already past the login step.', { key: 'error.step' });
    if (!(await scanFinishable(deps.provider(), d)))
      throw new HttpError(403, 'access_denied', 'Signing in with a phone is not available for this sign-in.', { key: 'error.qrOff' });
    return d;
  }

  async function checked(ctx: Context): Promise<{ d: Details; form: Record<string, string> }> {
    const d = await loginStep(ctx);
    const form = await readForm(ctx, config.bodyLimitBytes);
    checkCsrf(deps.secrets(), form.csrf, ['interaction', d.uid], 'error.formReload');
    return { d, form };
  }

  /**
   * What the desktop is told: the state, and once a phone has claimed the code, the number to match (number matching).
   * No name is shown before the phone approves (and then it moves on).
   */
  function view(t: Ticket, matching: boolean): { state: string; number?: number; reason?: string } {
    const state = effectiveState(t);
    if (state === 'scanned' && matching && t.match_number !== null) return { state, number: t.match_number };
    if (state === 'denied' && t.decline_reason) return { state, reason: t.decline_reason };
    return { state: state === 'issued' ? 'pending' : state };
  }

  const router = new Router();

  router.post('/interaction/:uid/qr/rotate', async (ctx) => {
    const { d, form } = await checked(ctx);
    if (form.ticket) await retire(store, form.ticket, d.uid);
    if (form.ticket) await deps.bus.publish(ticketKey(form.ticket));
    const ticket = await newTicket(ctx, d);
    if (!ticket) throw new TooManyRequests('too many codes; use your password or wait a minute', 60);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { ticket: ticket.id, qr: ticket.qr };
  });

  // The ticket's state: a stream (text/event-stream), or once as JSON for a page recovering from a refused stream.
  router.get('/interaction/:uid/qr/events', async (ctx) => {
    const d = await loginStep(ctx);
    const id = typeof ctx.query.ticket === 'string' ? ctx.query.ticket : '';
    const first = await ticketForDesktop(store, id, d.uid);
    if (!first) throw new HttpError(404, 'not_found', 'no such code for this sign-in');
    const matching = numberMatchingOn((await deps.provider().Client.find(first.client_id))?.metadata());
    ctx.set('Cache-Control', 'no-store');
    if (ctx.accepts('text/event-stream', 'application/json') !== 'text/event-stream') {
      ctx.body = view(first, matching);
      return;
    }
    ctx.respond = false;
    openEventStream({ res: ctx.res, ip: ctx.ip }, { waits: deps.waits, ...config.realtime }, ticketKey(id), async () => {
      const t = await ticketForDesktop(store, id, d.uid);
      if (!t) return undefined;
      const shown = view(t, matching);
      const final = !['pending', 'scanned'].includes(shown.state);
      return { data: shown, final, changesAt: new Date(t.expires_at).getTime() + 50 };
    });
  });

  router.post('/interaction/:uid/qr/complete', async (ctx) => {
    const { d, form } = await checked(ctx);
    const used = await use(store, form.ticket ?? '', d.uid);
    if (!used?.account_id)
      throw new HttpError(400, 'invalid_request', 'This code was not approved, or was already used.', { key: 'error.qrNotApproved' });
    await deps.bus.publish(ticketKey(used.id));
    const authTime = Number(used.auth_time ?? Math.floor(Date.now() / 1000));
    const maxAge = d.params.max_age === undefined ? undefined : Number(d.params.max_age);
    if (maxAge !== undefined && Number.isFinite(maxAge) && Math.floor(Date.now() / 1000) - authTime > maxAge) {
      throw new HttpError(400, 'login_required', 'This application needs a more recent sign-in than the phone’s.', { key: 'error.maxAge' });
    }
    const provider = deps.provider();
    // The phone's approval is the consent: a grant of its own, with exactly the scopes the phone showed.
    const grant = new provider.Grant({ accountId: used.account_id, clientId: used.client_id });
    const shown = (used.scope ?? '').split(' ').filter((s) => SCOPES.includes(s));
    if (shown.length) grant.addOIDCScope(shown.join(' '));
    const grantId = await grant.save();
    // Consent given on the phone counts as consent to the app, remembered like one given on a consent page.
    await store.consents.remember(used.account_id, used.client_id, shown);
    await store.approvals.record({
      id: used.id,
      kind: 'desktop',
      accountId: used.account_id,
      clientId: used.client_id,
      grantId,
      deviceIp: used.desktop_ip,
      deviceUa: used.desktop_ua,
      requestedAt: new Date(used.created_at),
    });
    // The phone's sign-in, marked as approved across devices (never phr, oidc/acr.ts).
    const result: ScanResult = {
      login: { accountId: used.account_id, ts: authTime, ...crossDevice(used.amr ?? []), remember: false },
      consent: { grantId },
      handoff: { scan: used.id },
    };
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  return { router, section };
}
