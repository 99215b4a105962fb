import { describeUserAgent } from './user-agent.js';
import { displayAddress } from './address.js';
import { html } from './html.js';
import { type Translator, timeAgo } from './i18n.js';
import { page } from './layout.js';
import {
  type AccountView,
  accountLabel,
  accountLine,
  switchAccountForm,
  type ClientView,
  clientHeader,
  messagePage,
  nextSteps,
  type SwitchAccount,
  scopeList,
} from './sign-in.js';

/** The phone pages of the device flow (RFC 8628 3.3): code entry, confirmation, and the outcomes. */

/**
 * Code entry. The form is a GET of `/device?user_code=…`, the very link a QR code opens (and counted as the same
 * guess), so Back after it never asks to resubmit a form; a wrong code keeps what was typed and shows the format.
 */
export function codeEntryPage(t: Translator, opts: { action: string; xsrf?: string; error?: string; value?: string }): string {
  return page({
    title: t('entry.title'),
    lang: t('lang.tag'),
    body: html`<div class="card">
<h1>${t('entry.title')}</h1>
<p id="entry-lead">${t('entry.lead')}</p>
${opts.error ? html`<p class="error" role="alert" id="entry-error">${opts.error}${opts.value ? html` ${t('entry.typed', { code: opts.value })}` : ''}</p>` : ''}
<form method="get" action="${opts.action}" novalidate>
<label for="user_code">${t('entry.label')}</label>
<p class="muted" id="entry-format">${t('entry.format')}</p>
<input type="text" id="user_code" name="user_code" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" inputmode="text" maxlength="32" required autofocus aria-describedby="${opts.error ? 'entry-error entry-lead entry-format' : 'entry-lead entry-format'}" value="${opts.value ?? ''}">
<button type="submit" class="primary">${t('entry.submit')}</button>
</form>
</div>`,
  });
}

export interface RequestingDevice {
  ip?: string | undefined;
  ua?: string | undefined;
  /** When the device asked (the device code's issue time). */
  at?: Date | undefined;
}

export function describeDevice(t: Translator, ua: string | undefined): string {
  const d = describeUserAgent(ua);
  if (d.app && d.os) return t('ua.on', { app: d.app, os: d.os });
  return d.app ?? d.os ?? t('ua.unknown');
}

export function confirmPage(
  t: Translator,
  opts: {
    action: string;
    xsrf: string;
    userCode: string;
    client: ClientView;
    scopes: string[];
    device: RequestingDevice;
    /** The proximity policy's verdict on the device's and this phone's addresses (http/address.ts). */
    network?: { warn: boolean; refuse: boolean };
    /** How this phone is signed in, when it is. */
    signedInWith?: 'passkey' | 'password' | 'upstream' | undefined;
    /** The app accepts only a phone signed in with a passkey, and this one is not: approving asks for one first. */
    needsPasskey?: boolean;
    /** Number matching: approving is picking, of these three, the number the device shows. */
    numberChoices?: number[];
    /** The account this phone approves as, and how to switch to another (keeping the code in hand). */
    account?: AccountView | undefined;
    switchAccount?: SwitchAccount | undefined;
    now?: Date;
  },
): string {
  const refuse = opts.network?.refuse === true;
  const approve = opts.numberChoices
    ? html`<fieldset class="numbers" data-numbers>
<legend>${t('confirm.whichNumber')}</legend>
<div class="choices">${opts.numberChoices.map((n) => html`<button type="submit" name="confirm" value="${String(n)}" class="primary number">${String(n)}</button>`)}</div>
</fieldset>
<button type="submit" name="abort" value="yes" class="decline">${t('confirm.decline')}</button>`
    : html`<div class="choices">
<button type="submit" name="abort" value="yes" class="decline">${t('confirm.decline')}</button>
<button type="submit" name="confirm" value="yes" class="primary">${t('confirm.approve')}</button>
</div>`;
  return page({
    title: t('confirm.title', { client: opts.client.name }),
    lang: t('lang.tag'),
    body: html`<div class="card">
<h1>${t('confirm.title', { client: opts.client.name })}</h1>
${clientHeader(opts.client, t)}
<p>${t('confirm.compare')}</p>
<p class="code" aria-label="${t('entry.label')}">${opts.userCode}</p>
${opts.scopes.length ? html`<p>${t('confirm.asks')}</p>${scopeList(t, opts.scopes)}` : ''}
<dl>
<dt>${t('confirm.device')}</dt><dd data-field="device">${t('claims.says', { what: describeDevice(t, opts.device.ua) })}</dd>
<dt>${t('confirm.ip')}</dt><dd data-field="ip">${displayAddress(opts.device.ip)}</dd>
${opts.device.at ? html`<dt>${t('confirm.when')}</dt><dd data-field="when">${timeAgo(t, opts.device.at, opts.now)}</dd>` : ''}
</dl>
<p class="muted" data-field="claims">${t('claims.note')}</p>
${opts.account ? accountLine(t, opts.account) : ''}
${opts.signedInWith ? html`<p class="muted" data-field="signed-in-with">${t(`signedIn.${opts.signedInWith}`)}</p>` : ''}
${opts.needsPasskey ? html`<p data-field="needs-passkey">${t('confirm.needsPasskey')}</p>` : ''}
${opts.network?.warn ? html`<p class="error" role="alert" data-field="network">${t('confirm.otherNetwork')}</p>` : ''}
${refuse ? html`<p class="error" role="alert" data-field="network">${t('confirm.mustBeNear')}</p>` : ''}
<p><strong>${t('confirm.question')}</strong></p>
<p class="muted">${t('confirm.warning')}</p>
<form method="post" action="${opts.action}" data-decision>
<input type="hidden" name="xsrf" value="${opts.xsrf}">
<input type="hidden" name="user_code" value="${opts.userCode}">
${refuse ? html`<button type="submit" name="abort" value="yes" class="decline">${t('confirm.decline')}</button>` : approve}
${opts.signedInWith ? html`<button type="submit" name="report" value="yes" class="report">${t('confirm.report')}</button>` : ''}
</form>
${switchAccountForm(t, opts.switchAccount)}
</div>
<script src="/assets/decide.js"></script>`,
  });
}

export type Outcome =
  | 'success'
  | 'denied'
  | 'reported'
  | 'reportedApproved'
  | 'tooFar'
  | 'expired'
  | 'used'
  | 'approved'
  | 'throttled'
  | 'error';

/**
 * The device flow's final pages: what happened in one sentence, whose account it was for, and where to go next
 * ("Your devices" after an approval or a report, "Enter another code" after anything else).
 */
export function outcomePage(
  t: Translator,
  outcome: Outcome,
  vars: { client?: string; minutes?: number; account?: AccountView | undefined; scanned?: boolean } = {},
): string {
  const lang = t('lang.tag');
  const devices = { href: '/account/devices', label: t('next.devices') };
  const another = { href: '/device', label: t('next.enterCode') };
  const account = vars.account
    ? { label: accountLabel(vars.account), line: t('account.doneAs', { account: accountLabel(vars.account) }) }
    : undefined;
  const m = (o: Parameters<typeof messagePage>[0]) => messagePage({ lang, account, ...o });
  switch (outcome) {
    case 'success':
      return m({
        title: t('success.title'),
        message: t('success.body', { client: vars.client ?? '' }),
        status: 'success',
        next: [{ ...devices, primary: true }, another],
      });
    case 'denied':
      return m({ title: t('denied.title'), message: t('denied.body'), next: [another] });
    case 'reported':
      return m({ title: t('reported.title'), message: t('reported.body'), next: [{ ...devices, primary: true }, another] });
    case 'reportedApproved':
      return m({
        title: t('reported.title'),
        message: t('reported.approved.body'),
        status: 'error',
        next: [{ ...devices, primary: true }, another],
      });
    case 'tooFar':
      return m({ title: t('common.error.title'), message: t('confirm.mustBeNear'), status: 'error', next: [another] });
    case 'expired':
      return m({ title: t('expired.title'), message: t('expired.body'), status: 'error', next: [another] });
    case 'approved':
      return m({
        title: t('used.approved.title'),
        message: t('used.approved.body', { client: vars.client ?? '' }),
        status: 'success',
        next: [devices],
      });
    case 'used':
      return m({ title: t('used.title'), message: t('used.body'), status: 'error', next: [another] });
    case 'throttled':
      return m({
        title: t('throttle.title'),
        message: t(vars.scanned ? 'throttle.scan' : 'throttle.body', { minutes: vars.minutes ?? 1 }),
        status: 'error',
        next: [another],
      });
    default:
      return m({ title: t('common.error.title'), message: t('entry.error.generic'), status: 'error', next: [another] });
  }
}

/** A wrong number was picked: the code is declined already; what happened, and the report that is left to make. */
export function wrongNumberPage(t: Translator, opts: { action: string; xsrf: string; userCode: string }): string {
  return page({
    title: t('wrongNumber.title'),
    lang: t('lang.tag'),
    body: html`<div class="card" data-outcome="wrong-number">
<h1>${t('wrongNumber.title')}</h1>
<p>${t('wrongNumber.body')}</p>
<form method="post" action="${opts.action}">
<input type="hidden" name="xsrf" value="${opts.xsrf}">
<input type="hidden" name="user_code" value="${opts.userCode}">
<button type="submit" name="report" value="yes" class="report">${t('confirm.report')}</button>
</form>
${nextSteps([{ href: '/device', label: t('next.enterCode') }])}
</div>`,
  });
}
