import { describeUserAgent } from './user-agent.js';
import { displayAddress } from './address.js';
import { html } from './html.js';
import { type Translator, timeAgo } from './i18n.js';
import { page } from './layout.js';
import { type ClientView, clientHeader, messagePage, scopeList } from './sign-in.js';

/** The phone pages of the device flow (RFC 8628 3.3): code entry, confirmation, and the outcomes. */

export function codeEntryPage(t: Translator, opts: { action: string; xsrf: string; error?: string; value?: string }): string {
  return page({
    title: t('entry.title'),
    lang: t('lang.tag'),
    body: html`<div class="card">
<h1>${t('entry.title')}</h1>
<p id="entry-lead">${t('entry.lead')}</p>
${opts.error ? html`<p class="error" role="alert" id="entry-error">${opts.error}</p>` : ''}
<form method="post" action="${opts.action}" novalidate>
<input type="hidden" name="xsrf" value="${opts.xsrf}">
<label for="user_code">${t('entry.label')}</label>
<input type="text" id="user_code" name="user_code" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" inputmode="text" maxlength="32" required autofocus aria-describedby="${opts.error ? 'entry-error entry-lead' : 'entry-lead'}" value="${opts.value ?? ''}">
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
    signedInWith?: 'passkey' | 'password' | undefined;
    /** The app accepts only a phone signed in with a passkey, and this one is not: approving asks for one first. */
    needsPasskey?: boolean;
    /** Number matching: approving is picking, of these three, the number the device shows. */
    numberChoices?: number[];
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
${clientHeader(opts.client)}
<p>${t('confirm.compare')}</p>
<p class="code" aria-label="${t('entry.label')}">${opts.userCode}</p>
${opts.scopes.length ? html`<p>${t('confirm.asks')}</p>${scopeList(t, opts.scopes)}` : ''}
<dl>
<dt>${t('confirm.device')}</dt><dd data-field="device">${t('claims.says', { what: describeDevice(t, opts.device.ua) })}</dd>
<dt>${t('confirm.ip')}</dt><dd data-field="ip">${displayAddress(opts.device.ip)}</dd>
${opts.device.at ? html`<dt>${t('confirm.when')}</dt><dd data-field="when">${timeAgo(t, opts.device.at, opts.now)}</dd>` : ''}
</dl>
<p class="muted" data-field="claims">${t('claims.note')}</p>
${opts.signedInWith ? html`<p class="muted" data-field="signed-in-with">${t(opts.signedInWith === 'passkey' ? 'signedIn.passkey' : 'signedIn.password')}</p>` : ''}
${opts.needsPasskey ? html`<p data-field="needs-passkey">${t('confirm.needsPasskey')}</p>` : ''}
${opts.network?.warn ? html`<p class="error" role="alert" data-field="network">${t('confirm.otherNetwork')}</p>` : ''}
${refuse ? html`<p class="error" role="alert" data-field="network">${t('confirm.mustBeNear')}</p>` : ''}
<p><strong>${t('confirm.question')}</strong></p>
<p class="muted">${t('confirm.warning')}</p>
<form method="post" action="${opts.action}">
<input type="hidden" name="xsrf" value="${opts.xsrf}">
<input type="hidden" name="user_code" value="${opts.userCode}">
${refuse ? html`<button type="submit" name="abort" value="yes" class="decline">${t('confirm.decline')}</button>` : approve}
${opts.signedInWith ? html`<button type="submit" name="report" value="yes" class="report">${t('confirm.report')}</button>` : ''}
</form>
</div>`,
  });
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
</div>`,
  });
}

export type Outcome = 'success' | 'denied' | 'reported' | 'tooFar' | 'expired' | 'used' | 'throttled' | 'error';

export function outcomePage(t: Translator, outcome: Outcome, vars: { client?: string; minutes?: number } = {}): string {
  const lang = t('lang.tag');
  switch (outcome) {
    case 'success':
      return messagePage({ lang, title: t('success.title'), message: t('success.body', { client: vars.client ?? '' }), status: 'success' });
    case 'denied':
      return messagePage({ lang, title: t('denied.title'), message: t('denied.body') });
    case 'reported':
      return messagePage({ lang, title: t('reported.title'), message: t('reported.body') });
    case 'tooFar':
      return messagePage({ lang, title: t('common.error.title'), message: t('confirm.mustBeNear'), status: 'error' });
    case 'expired':
      return messagePage({ lang, title: t('expired.title'), message: t('expired.body'), status: 'error' });
    case 'used':
      return messagePage({ lang, title: t('used.title'), message: t('used.body'), status: 'error' });
    case 'throttled':
      return messagePage({
        lang,
        title: t('throttle.title'),
        message: t('throttle.body', { minutes: vars.minutes ?? 1 }),
        status: 'error',
      });
    default:
      return messagePage({ lang, title: t('common.error.title'), message: t('entry.error.generic'), status: 'error' });
  }
}
