import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { RETURN_COOKIE } from '../accounts/routes.js';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import { addressKey, proximityCheck, proximityOf, sameNetwork } from '../http/address.js';
import { readForm } from '../http/body.js';
import { checkCsrf, csrfToken } from '../http/csrf.js';
import { HttpError, TooManyRequests } from '../http/errors.js';
import { take } from '../http/limits.js';
import { signedInUser } from '../http/session.js';
import { audit } from '../ops/audit.js';
import type { Reporter } from '../ops/reports.js';
import { signInMethod } from '../accounts/passkeys.js';
import type { Store } from '../store/index.js';
import { tFor } from '../views/context.js';
import { phoneConfirmPage, phoneOutcomePage, phoneWrongNumberPage } from '../views/qr-login.js';
import { qrLoginEnabled } from './desktop.js';
import { claim, decide, phoneView, ticketById, ticketBySecret, ticketKey, wrongPick, wrongPickLimit } from './tickets.js';
import { newMatchNumbers, numberMatchingOn, pickedNumber } from '../http/number-match.js';
import { sha256 } from '../store/hash.js';

/**
 * The phone side of scan-to-sign-in. `GET /q/<ticket>` (the QR code's URL) needs a signed-in phone (otherwise it
 * signs in first and comes back) and only *reads*: it shows who is asking and the one decision. The page's script
 * then claims the ticket (`POST /q/claim`, so the desktop shows "confirm on your phone"); `POST /q/decide`
 * approves or declines, only from this phone session, with a CSRF token bound to session and ticket. Link
 * previewers and prefetchers that open the URL change nothing.
 */
export interface QrPhoneDeps {
  config: Config;
  store: Store;
  provider: () => Provider;
  secrets: () => string[];
  bus: EventBus;
  onOutcome?: (kind: 'device' | 'desktop' | 'ciba', outcome: 'approved' | 'denied' | 'revoked') => void;
  /** "I didn't start this" (ops/reports.ts). */
  report?: Reporter;
}

const TICKET = /^[\w-]{43}$/;

export function qrPhoneRoutes(deps: QrPhoneDeps): Router {
  const { store, config } = deps;
  const router = new Router();
  const csrfFor = (sessionUid: string, ticketId: string) => csrfToken(deps.secrets(), 'qr', sessionUid, ticketId);

  async function phoneForm(ctx: Context) {
    const phone = await signedInUser(ctx, deps.provider());
    if (!phone) throw new HttpError(401, 'login_required', 'Sign in on this phone again.', { key: 'error.phoneSignIn' });
    const form = await readForm(ctx, config.bodyLimitBytes);
    const id = form.ticket ?? '';
    checkCsrf(deps.secrets(), form.csrf, ['qr', phone.sessionUid, id], 'error.formScan');
    return { phone, form, id };
  }

  router.get('/q/:ticket', async (ctx) => {
    const t = tFor(ctx);
    const secret = ctx.params.ticket ?? '';
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    await take(store, [{ bucket: 'qr-scan:ip', key: addressKey(ctx.ip), windowSeconds: 60, max: config.qrLogin.maxScansPerIp }]);
    if (!TICKET.test(secret)) {
      ctx.status = 404;
      ctx.body = phoneOutcomePage(t, 'unknown');
      return;
    }
    const provider = deps.provider();
    const phone = await signedInUser(ctx, provider);
    if (!phone) {
      ctx.cookies.set(RETURN_COOKIE, `/q/${secret}`, { signed: true, httpOnly: true, sameSite: 'lax', maxAge: 10 * 60 * 1000 });
      ctx.redirect('/account/signin');
      return;
    }
    const found = phoneView(await ticketBySecret(store, secret), phone.sessionId);
    if (!found.ok || !(await qrLoginEnabled(provider, found.ticket.client_id))) {
      const reason = found.ok ? 'unknown' : found.reason;
      ctx.status = reason === 'unknown' ? 404 : 409;
      ctx.body = phoneOutcomePage(t, reason === 'claimed' ? 'claimed' : reason === 'expired' ? 'expired' : 'unknown');
      return;
    }
    const ticket = found.ticket;
    const client = await provider.Client.find(ticket.client_id);
    ctx.body = phoneConfirmPage(t, {
      numberMatching: numberMatchingOn(client?.metadata()),
      account: await store.users.byId(phone.accountId),
      switchAccount: { csrf: csrfToken(deps.secrets(), 'devices', phone.sessionUid), back: `/q/${secret}` },
      action: '/q/decide',
      claim: '/q/claim',
      csrf: csrfFor(phone.sessionUid, ticket.id),
      ticket: ticket.id,
      client: {
        name: client?.clientName ?? ticket.client_id,
        uri: client?.clientUri,
        selfRegistered: client?.metadata().handoff_registered === true,
      },
      scopes: (ticket.scope ?? '').split(' ').filter(Boolean),
      desktop: { ip: ticket.desktop_ip, ua: ticket.desktop_ua, at: new Date(ticket.created_at) },
      network: proximityCheck(proximityOf(client?.metadata()), ticket.desktop_ip, ctx.ip),
      signedInWith: signInMethod(phone.amr),
    });
  });

  // The decision page's script: this phone has the code in hand (issued → scanned), the desktop says so. With number
  // matching, the desktop now shows its number and this phone gets the three to choose from (and never before).
  router.post('/q/claim', async (ctx) => {
    const { phone, id } = await phoneForm(ctx);
    // The numbers are drawn in the claim's one statement whatever the client; only a client with number matching on
    // shows and asks for them (its setting is read from the cached client after the claim: no statement more).
    const claimed = await claim(
      store,
      id,
      { sessionId: phone.sessionId, accountId: phone.accountId, ip: ctx.ip },
      config.qrLogin.confirmSeconds,
      newMatchNumbers(),
    );
    ctx.set('Cache-Control', 'no-store');
    if (!claimed) {
      const paused = await store.counters.full(wrongPickLimit(phone.accountId));
      if (paused)
        throw new TooManyRequests('too many wrong numbers; scanning is paused for a few minutes', paused.retryAfter, {
          key: 'qrPhone.paused',
        });
      throw new HttpError(409, 'invalid_request', 'This code is already being confirmed on another phone, or is no longer valid.');
    }
    await deps.bus.publish(ticketKey(claimed.id));
    const client = await deps.provider().Client.find(claimed.client_id);
    if (numberMatchingOn(client?.metadata()) && claimed.match_choices) ctx.body = { choices: claimed.match_choices };
    else ctx.status = 204;
  });

  router.post('/q/decide', async (ctx) => {
    const t = tFor(ctx);
    const { phone, form, id } = await phoneForm(ctx);
    const provider = deps.provider();
    // A number picked is an approval with that number (number matching); otherwise the page's Approve.
    const picked = pickedNumber(form.pick);
    const approve = form.decision === 'approve' || (form.pick !== undefined && form.decision === undefined);
    const reported = form.decision === 'report';
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    const before = await ticketById(store, id);
    // "I didn't start this" after a wrong pick: the ticket is already declined; the report is what is left to do.
    if (reported && before?.decline_reason === 'wrong_number' && before.phone_session_hash === sha256(phone.sessionId)) {
      await deps.report?.({
        kind: 'desktop',
        clientId: before.client_id,
        accountId: phone.accountId,
        deviceIp: before.desktop_ip,
        deviceUa: before.desktop_ua,
        phoneIp: ctx.ip,
        sameNetwork: sameNetwork(before.desktop_ip, ctx.ip),
      });
      ctx.body = phoneOutcomePage(t, 'reported');
      return;
    }
    if (approve && before && !(await qrLoginEnabled(provider, before.client_id))) {
      ctx.status = 409;
      ctx.body = phoneOutcomePage(t, 'unknown');
      return;
    }
    // Under a `require` proximity policy, approval from another network is refused here too (the page offered
    // Decline only); the ticket stays undecided until it is declined or expires.
    const client = before ? await provider.Client.find(before.client_id) : undefined;
    if (approve && before && proximityCheck(proximityOf(client?.metadata()), before.desktop_ip, ctx.ip).refuse) {
      ctx.status = 403;
      ctx.body = phoneOutcomePage(t, 'tooFar');
      return;
    }
    const matching = approve && numberMatchingOn(client?.metadata());
    if (matching && picked === undefined) {
      throw new HttpError(400, 'invalid_request', 'Pick the number your computer shows.', { key: 'qrPhone.pickNumber' });
    }
    const decided = await decide(
      store,
      id,
      { sessionId: phone.sessionId, accountId: phone.accountId, ip: ctx.ip, authTime: phone.loginTs, amr: phone.amr },
      approve,
      config.qrLogin.approvedSeconds,
      matching && picked !== undefined ? { picked } : undefined,
    );
    if (!decided && matching && picked !== undefined) {
      // Not the number on the computer: the ticket is declined (once), and the account's wrong picks are counted.
      const wrong = await wrongPick(store, id, { sessionId: phone.sessionId, ip: ctx.ip }, picked);
      if (wrong) {
        await deps.bus.publish(ticketKey(wrong.id));
        await store.counters.hit(wrongPickLimit(phone.accountId));
        await audit(store, {
          action: 'desktop.denied',
          accountId: phone.accountId,
          clientId: wrong.client_id,
          deviceIp: wrong.desktop_ip,
          deviceUa: wrong.desktop_ua,
          actorIp: ctx.ip,
          detail: { sameNetwork: sameNetwork(wrong.desktop_ip, ctx.ip), reason: 'wrong_number' },
        });
        deps.onOutcome?.('desktop', 'denied');
        ctx.status = 409;
        ctx.body = phoneWrongNumberPage(t, { action: '/q/decide', csrf: csrfFor(phone.sessionUid, wrong.id), ticket: wrong.id });
        return;
      }
    }
    if (!decided) {
      ctx.status = 409;
      ctx.body = phoneOutcomePage(t, before ? 'expired' : 'unknown');
      return;
    }
    await deps.bus.publish(ticketKey(decided.id));
    const same = sameNetwork(decided.desktop_ip, ctx.ip);
    await audit(store, {
      action: approve ? 'desktop.approved' : 'desktop.denied',
      accountId: decided.account_id,
      clientId: decided.client_id,
      deviceIp: decided.desktop_ip,
      deviceUa: decided.desktop_ua,
      actorIp: ctx.ip,
      detail: { sameNetwork: same },
    });
    deps.onOutcome?.('desktop', approve ? 'approved' : 'denied');
    if (reported) {
      await deps.report?.({
        kind: 'desktop',
        clientId: decided.client_id,
        // The phone deciding is signed in (phoneForm): the report names its account.
        accountId: phone.accountId,
        deviceIp: decided.desktop_ip,
        deviceUa: decided.desktop_ua,
        phoneIp: ctx.ip,
        sameNetwork: same,
      });
    }
    // Post, then redirect: the result is a page of its own, so Back never sends the decision again.
    ctx.status = 303;
    ctx.redirect(`/q/result/${encodeURIComponent(decided.id)}?as=${reported ? 'reported' : approve ? 'approved' : 'denied'}`);
  });

  // The result of this phone's decision on a ticket, read from the ticket (only the phone session that decided it
  // sees it); `as` only chooses between the declined pages ("declined" or "thanks for telling us").
  router.get('/q/result/:id', async (ctx) => {
    const t = tFor(ctx);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    const phone = await signedInUser(ctx, deps.provider());
    const ticket = await ticketById(store, ctx.params.id ?? '');
    if (!phone || !ticket || ticket.phone_session_hash !== sha256(phone.sessionId)) {
      ctx.status = 404;
      ctx.body = phoneOutcomePage(t, 'unknown');
      return;
    }
    const client = await deps.provider().Client.find(ticket.client_id);
    const approvedIt = ticket.state === 'approved' || ticket.state === 'used';
    const outcome = approvedIt ? 'approved' : ticket.state === 'denied' ? (ctx.query.as === 'reported' ? 'reported' : 'denied') : 'expired';
    ctx.body = phoneOutcomePage(t, outcome, client?.clientName ?? ticket.client_id, await store.users.byId(phone.accountId));
  });
  return router;
}
