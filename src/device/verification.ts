import type { Context, Middleware } from 'koa';
import type { DeviceCode, KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import { proximityCheck, proximityOf } from '../http/address.js';
import { csrfToken } from '../http/csrf.js';
import { HttpError, TooManyRequests } from '../http/errors.js';
import { canonicalPath } from '../http/protocol-routes.js';
import { findSession, signedInUser } from '../http/session.js';
import type { ParsedUrlQuery } from 'node:querystring';
import { userOf } from '../oidc/account.js';
import { approvalOutcome, takeHandedAccount } from '../oidc/handed-rows.js';
import { xsrfOf } from '../oidc/seams.js';
import { field, formText, protocolForm, rewriteBody, truthy } from '../http/body.js';
import type { Reporter } from '../ops/reports.js';
import { signInMethod } from '../accounts/passkeys.js';
import { ACR_PHISHING_RESISTANT } from '../oidc/acr.js';
import type { Store } from '../store/index.js';
import { tFor } from '../views/context.js';
import { codeEntryPage, confirmPage, outcomePage, wrongNumberPage } from '../views/device.js';
import type Provider from 'oidc-provider';
import { approved, denied, type Outcome, scan, scanMatching } from './flow.js';
import { decisionOf, deviceOf, keyOf, reportedDevice, text } from './code-facts.js';
import { guess, guessLimits } from './guess.js';
import { numberMatchingOn, pickedNumber } from '../http/number-match.js';
import { normalizeUserCode } from './user-code.js';

/**
 * The phone's side of the device flow (RFC 8628 3.3): oidc-provider's code verification endpoints (`/device`,
 * `/device/:uid`) with Handoff's guards around them and its pages and transitions in the library's own hooks
 * (`userCodeInputSource`, `userCodeConfirmSource`, `successSource`).
 *
 * - Guessing (RFC 8628 5.1): every code lookup takes an attempt from the address and the browser session first,
 *   given back when the code exists; a correct code never resets earlier failures.
 * - Opening `verification_uri_complete` (the QR) shows the confirmation page straight away, never approving
 *   anything by itself; the link's code is taken off the query so the library draws its entry step through our
 *   hook, which shows the code's confirmation instead.
 * - scan, approve and deny are flow.ts transitions, run from the hooks once the library saved the code.
 *
 * Beside it: the guess at a user code (guess.ts), what is read off a code (code-facts.ts), and the rules checked where
 * the library makes an approval's grant (approval-rules.ts). Pages and transitions live in views/ and flow.ts.
 */
export interface VerificationDeps {
  config: Config;
  store: Store;
  bus: EventBus;
  provider: () => Provider;
  onOutcome?: Outcome;
  /** "I didn't start this" (ops/reports.ts). */
  report?: Reporter;
  /** Cookie keys, newest first (the "switch account" form's CSRF token, http/csrf.ts). */
  secrets?: () => string[];
}

/** Guards in front of oidc-provider's code verification endpoints. */
export function verificationGuards(deps: VerificationDeps): Middleware {
  return async (ctx, next) => {
    const path = canonicalPath(ctx.path);
    if (path === '/device' && ctx.method === 'GET' && ctx.query.user_code !== undefined) {
      // A code typed on the entry page (its form is a GET, like the QR link) or opened from a link. A malformed one is
      // counted as a miss like any wrong code, and the entry page shows what was typed and the format.
      const typed = typeof ctx.query.user_code === 'string' ? ctx.query.user_code.slice(0, 32) : '';
      const code = normalizeUserCode(typed);
      const query = { ...ctx.query };
      delete query.user_code;
      ctx.query = query;
      if (!code) {
        const p = deps.provider();
        await guess(deps, ctx, p, typed, guessLimits(deps.config, ctx.ip, ctx.cookies.get(p.cookieName('session'), { signed: true })));
        ctx.state.typedUserCode = typed.replace(/[^\x20-\x7e]/g, '');
        await next();
        ctx.set('Cache-Control', 'no-store');
        return;
      }
      ctx.state.linkedUserCode = code;
    }
    if (path === '/device' && ctx.method === 'POST') {
      // A form from a browser with no session cannot carry a valid xsrf token; oidc-provider 9 would answer 500.
      const p = deps.provider();
      const sessionId = ctx.cookies.get(p.cookieName('session'), { signed: true });
      if (!sessionId) {
        ctx.status = 303;
        ctx.redirect('/device');
        return;
      }
      // Read by the one reader, whatever the framing or charset: what oidc-provider will look up is what is counted.
      const form = await protocolForm(ctx.req, deps.config.bodyLimitBytes);
      const typed = field(form, 'user_code');
      // A typed code is a guess (an empty form is not): one statement finds the code and counts a miss. (A repeated
      // `user_code` is refused by oidc-provider before it looks anything up.)
      const code = typed ? (await guess(deps, ctx, p, typed, guessLimits(deps.config, ctx.ip, sessionId))).code : undefined;
      if (code?.accountId && !code.error && !truthy(form, 'report')) {
        // Approved already (the decision sent again, by Back and a resubmission): the device is signed in. (A report
        // still counts: below.)
        const client = await p.Client.find(code.clientId ?? '');
        ctx.type = 'html';
        ctx.set('Cache-Control', 'no-store');
        ctx.body = outcomePage(tFor(ctx), 'approved', { client: client?.clientName ?? code.clientId ?? '' });
        return;
      }
      if (await decisionGuard(ctx, deps, p, form, code)) return;
      await next();
      ctx.set('Cache-Control', 'no-store');
      return;
    }
    if (path.startsWith('/device/')) {
      // The resume step exists only for a browser in the middle of approving (oidc-provider 9 answers 500 otherwise).
      const p = deps.provider();
      const resuming = ctx.cookies.get(p.cookieName('resume'), { signed: true });
      if (!resuming || !(await findSession(ctx, p))) {
        throw new HttpError(400, 'invalid_request', 'This sign-in has expired or was opened in another browser.', {
          key: 'error.deviceSessionGone',
        });
      }
    }
    await next();
    // Code entry, confirmation and outcome pages carry the xsrf token and the code: never cached.
    ctx.set('Cache-Control', 'no-store');
  };
}

/**
 * The decision form, before oidc-provider reads it: "I didn't start this" becomes the library's own Decline
 * (`abort=yes`) and is remembered as a report; an approval under a `require` proximity policy from another network is
 * refused with a page that says why and offers Decline only. An approval is what oidc-provider takes as one: any
 * non-empty `confirm` without `abort` (`confirm=1` as much as the page's `confirm=yes`). For a client that matches
 * numbers, `confirm` carries the number picked: the right one is recorded on the code, a wrong one declines it.
 * True when the request was answered here. The same rules are checked again where the approval is recorded
 * (device/approval-rules.ts).
 */
async function decisionGuard(
  ctx: Context,
  deps: VerificationDeps,
  provider: Provider,
  form: ParsedUrlQuery | undefined,
  code: DeviceCode | undefined,
): Promise<boolean> {
  if (!form) return false;
  const decline = (why?: 'wrongNumber') => {
    delete form.report;
    delete form.confirm;
    form.abort = 'yes';
    rewriteBody(ctx.req, formText(form));
    if (why) ctx.state.wrongNumber = true;
  };
  if (truthy(form, 'report')) {
    // Only a phone signed in to an account reports (and the report names it); any other browser only declines.
    const phone = await signedInUser(ctx, provider);
    const key = keyOf(code);
    if (phone && code && (code.error || code.accountId || code.inFlight) && key && deps.report) {
      // Decided already (a wrong number was picked; or approved, or being approved, from another tab or phone): the
      // report is what is left to do, and the page says whether the sign-in may have gone through.
      await deps.report({ kind: 'device', clientId: code.clientId ?? '', accountId: phone.accountId, ...reportedDevice(ctx, code) });
      ctx.status = 200;
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      const account = await deps.store.users.byId(phone.accountId);
      ctx.body = outcomePage(tFor(ctx), code.error ? 'reported' : 'reportedApproved', { account });
      return true;
    }
    decline();
    if (phone) {
      ctx.state.reportedBy = phone.accountId;
      // The code as read here: if the library's own read finds it decided meanwhile, the report still names it.
      ctx.state.reportedCode = code;
    }
    return false;
  }
  if (truthy(form, 'abort') || !truthy(form, 'confirm')) return false;
  const client = code?.clientId ? await provider.Client.find(code.clientId) : undefined;
  if (code && client && proximityCheck(proximityOf(client.metadata()), deviceOf(code).ip, ctx.ip).refuse) {
    const t = tFor(ctx);
    ctx.status = 403;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = outcomePage(t, 'tooFar');
    return true;
  }
  const key = keyOf(code);
  if (code && client && key && numberMatchingOn(client.metadata(), 'device')) {
    const picked = pickedNumber(field(form, 'confirm'));
    if (picked === undefined)
      throw new HttpError(400, 'invalid_request', 'Pick the number your device shows.', { key: 'confirm.pickNumber' });
    if (!(await deps.store.deviceCodes.matched(key, picked))) decline('wrongNumber');
  }
  return false;
}

type ClientView = {
  clientName?: string | undefined;
  clientId: string;
  clientUri?: string | undefined;
  metadata?: () => Record<string, unknown>;
};

async function drawConfirm(
  ctx: KoaContextWithOIDC,
  deps: VerificationDeps,
  code: DeviceCode | undefined,
  client: ClientView,
  userCode: string,
  choices?: number[],
): Promise<void> {
  const device = code ? deviceOf(code) : { ip: undefined, ua: undefined };
  const metadata = client.metadata?.();
  const network = proximityCheck(proximityOf(metadata), device.ip, ctx.ip);
  const session = ctx.oidc.session;
  const signedInWith = session?.accountId ? signInMethod(session.amr) : undefined;
  const wantsPhr = ((metadata?.default_acr_values ?? []) as string[]).includes(ACR_PHISHING_RESISTANT);
  ctx.type = 'html';
  ctx.body = confirmPage(tFor(ctx), {
    network,
    signedInWith,
    needsPasskey: wantsPhr && signedInWith !== 'passkey',
    action: ctx.oidc.urlFor('code_verification'),
    xsrf: xsrfOf(ctx),
    userCode,
    client: { name: client.clientName ?? client.clientId, uri: client.clientUri, selfRegistered: metadata?.handoff_registered === true },
    scopes: (text(code?.params?.scope) ?? '').split(' ').filter(Boolean),
    device: { ...device, ...(code?.iat ? { at: new Date(code.iat * 1000) } : {}) },
    ...(choices ? { numberChoices: choices } : {}),
    // The account this phone approves as, and "Not you? Switch account", which comes back to this very code.
    account: session?.accountId
      ? (takeHandedAccount(ctx.req, session.accountId) ?? (await deps.store.users.byId(session.accountId)))
      : undefined,
    ...(session?.accountId && deps.secrets
      ? { switchAccount: { csrf: csrfToken(deps.secrets(), 'devices', session.uid), back: `/device?user_code=${userCode}` } }
      : {}),
  });
}

/**
 * A phone has the code in hand: pending → scanned, announced once; for a client that matches numbers, the code gets its
 * number (the device shows it from now on) and the phone's three choices, which this returns.
 */
async function scanned(deps: VerificationDeps, key: string | undefined, client: ClientView): Promise<number[] | undefined> {
  if (!key) return undefined;
  if (numberMatchingOn(client.metadata?.(), 'device')) return scanMatching(deps.store, deps.bus, key);
  await scan(deps.store, deps.bus, key);
  return undefined;
}

/** The code a QR link carried: counted like a typed one, then its confirmation (or why not). */
async function confirmLinked(ctx: KoaContextWithOIDC, deps: VerificationDeps, userCode: string): Promise<void> {
  const t = tFor(ctx);
  let code: DeviceCode | undefined;
  let scannedBy: { before: boolean; now: boolean } | undefined;
  try {
    const opened = await guess(deps, ctx, ctx.oidc.provider, userCode, guessLimits(deps.config, ctx.ip, ctx.oidc.session?.jti), true);
    code = opened.code;
    scannedBy = opened.scanned;
  } catch (err) {
    if (err instanceof TooManyRequests) {
      // A scanned QR code past the guessing limit: the advice is to start again on the device (a fresh code).
      ctx.status = 429;
      ctx.set(err.headers);
      ctx.type = 'html';
      ctx.body = outcomePage(t, 'throttled', { minutes: Math.ceil(err.retryAfter / 60), scanned: true });
      return;
    }
    throw err;
  }
  ctx.type = 'html';
  if (!code) {
    ctx.status = 400;
    const shown = `${userCode.slice(0, 4)}-${userCode.slice(4)}`;
    ctx.body = codeEntryPage(t, { action: ctx.oidc.urlFor('code_verification'), error: t('entry.error.notFound'), value: shown });
    return;
  }
  if (code.isExpired) {
    ctx.body = outcomePage(t, 'expired');
    return;
  }
  if (code.accountId && !code.error) {
    // Approved already: the device is signed in (not "used" as if something went wrong).
    const client = await ctx.oidc.provider.Client.find(code.clientId ?? '');
    ctx.body = outcomePage(t, 'approved', { client: client?.clientName ?? code.clientId ?? '' });
    return;
  }
  if (code.error || code.inFlight) {
    ctx.body = outcomePage(t, 'used');
    return;
  }
  const client = await ctx.oidc.provider.Client.find(code.clientId ?? '');
  if (!client) {
    ctx.status = 400;
    ctx.body = outcomePage(t, 'error');
    return;
  }
  const key = keyOf(code);
  // The guess marked the code scanned already (or it was): only number matching has a statement of its own to run.
  const done = (scannedBy?.now || scannedBy?.before) && !numberMatchingOn(client.metadata(), 'device');
  const choices = done ? undefined : await scanned(deps, key, client);
  await drawConfirm(ctx, deps, code, client, `${userCode.slice(0, 4)}-${userCode.slice(4)}`, choices);
}

/** oidc-provider's device flow hooks: our pages, and the transitions they mark. */
export function deviceFlowPages(deps: VerificationDeps) {
  return {
    async userCodeInputSource(ctx: KoaContextWithOIDC, _form: string, _out?: unknown, err?: Error) {
      const t = tFor(ctx);
      ctx.type = 'html';
      const linked = ctx.state.linkedUserCode;
      if (!err && linked) return confirmLinked(ctx, deps, linked);
      const code = ctx.oidc.entities.DeviceCode;
      const key = keyOf(code);
      if (err?.name === 'AbortedError' && ctx.state.wrongNumber && code && key) {
        await denied(deps.store, deps.bus, decisionOf(ctx, code, key), deps.onOutcome);
        ctx.status = 409;
        ctx.body = wrongNumberPage(t, { action: ctx.oidc.urlFor('code_verification'), xsrf: xsrfOf(ctx), userCode: code.userCode ?? '' });
        return;
      }
      const reportedCode = code ?? ctx.state.reportedCode;
      if (err?.name === 'AlreadyUsedError' && ctx.state.reportedBy && reportedCode && deps.report) {
        // The report's decline lost the race to an Approve (the code is decided once): the report still counts.
        const device = reportedDevice(ctx, reportedCode);
        await deps.report({ kind: 'device', clientId: reportedCode.clientId ?? '', accountId: ctx.state.reportedBy, ...device });
        ctx.body = outcomePage(t, 'reportedApproved', { account: await deps.store.users.byId(ctx.state.reportedBy) });
        return;
      }
      const reporter = err?.name === 'AbortedError' ? ctx.state.reportedBy : undefined;
      const reported = reporter !== undefined;
      if (err?.name === 'AbortedError' && code && key) {
        const report = reporter && deps.report ? { reporter: deps.report, accountId: reporter } : undefined;
        await denied(deps.store, deps.bus, decisionOf(ctx, code, key), deps.onOutcome, report);
      }
      if (reported) {
        ctx.body = outcomePage(t, 'reported', { account: await deps.store.users.byId(reporter) });
        return;
      }
      const outcome = { AbortedError: 'denied', ExpiredError: 'expired', AlreadyUsedError: 'used' } as const;
      const known = err ? outcome[err.name as keyof typeof outcome] : undefined;
      if (known) {
        ctx.body = outcomePage(t, known);
        return;
      }
      let error: string | undefined;
      const typed = ctx.state.typedUserCode;
      if (err?.name === 'NoCodeError' || typed === '') error = t('entry.error.empty');
      else if (err?.name === 'NotFoundError' || typed !== undefined) error = t('entry.error.notFound');
      else if (err) error = t('entry.error.generic');
      if (error) ctx.status = 400;
      ctx.body = codeEntryPage(t, {
        action: ctx.oidc.urlFor('code_verification'),
        ...(error ? { error } : {}),
        ...(typed ? { value: typed } : {}),
      });
    },
    async userCodeConfirmSource(ctx: KoaContextWithOIDC, _form: string, client: ClientView, _deviceInfo: unknown, userCode: string) {
      const code = ctx.oidc.entities.DeviceCode;
      // A phone has the code in hand: pending → scanned, announced once (with number matching, its numbers made).
      await drawConfirm(ctx, deps, code, client, userCode, await scanned(deps, keyOf(code), client));
    },
    async successSource(ctx: KoaContextWithOIDC) {
      const code = ctx.oidc.entities.DeviceCode;
      const key = keyOf(code);
      const made = key ? approvalOutcome(ctx.req, key) : undefined;
      if (made && key) {
        // Recorded with the approval's own write (device/approval-rules.ts): what is left is to say so.
        if (made.recorded) deps.onOutcome?.('device', 'approved');
        if (made.announced) deps.bus.wake(key);
        else await deps.bus.publish(key);
      } else if (code && key) await approved(deps.store, deps.bus, decisionOf(ctx, code, key), deps.onOutcome);
      const client = ctx.oidc.client;
      // The account oidc-provider loaded for this very approval (its findAccount): not read a second time.
      const account = code?.accountId ? await userOf(deps.store, code.accountId, ctx.req) : undefined;
      ctx.type = 'html';
      ctx.body = outcomePage(tFor(ctx), 'success', { client: client?.clientName ?? client?.clientId ?? '', account });
    },
  };
}
