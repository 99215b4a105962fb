import { displayAddress } from './address.js';
import { describeDevice } from './device.js';
import { html, type SafeHtml } from './html.js';
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

/** Desktop scan-to-sign-in: the QR section of the login page, and the phone's pages. */

export interface QrSection {
  qr: string;
  ticket: string;
  events: string;
  rotate: string;
  complete: string;
  csrf: string;
  rotateSeconds: number;
  maxRotations: number;
}

export function qrSection(t: Translator, q: QrSection): SafeHtml {
  return html`<section class="qr-login" data-qr data-ticket="${q.ticket}" data-events="${q.events}" data-rotate="${q.rotate}" data-csrf="${q.csrf}" data-rotate-seconds="${q.rotateSeconds}" data-max-rotations="${q.maxRotations}" aria-labelledby="qr-title">
<h2 id="qr-title">${t('qr.title')}</h2>
<div data-view="waiting"><img id="qr-image" src="${q.qr}" alt="${t('qr.alt')}" width="240" height="240"><p class="muted">${t('qr.lead')}</p></div>
<div data-view="scanned" hidden><p class="success" role="status">${t('qr.scanned')}</p>
<div data-number-box hidden><p>${t('qr.number')}</p><p class="code" data-number aria-live="polite"></p></div></div>
<div data-view="denied" hidden><p class="error" role="status" data-denied-text data-wrong-number="${t('qr.wrongNumber')}">${t('qr.denied')}</p><button type="button" class="primary" data-fresh>${t('qr.fresh')}</button></div>
<div data-view="paused" hidden><p class="muted">${t('qr.paused')}</p><button type="button" class="primary" data-fresh>${t('qr.fresh')}</button></div>
<form method="post" action="${q.complete}" data-complete hidden><input type="hidden" name="csrf" value="${q.csrf}"><input type="hidden" name="ticket" value="${q.ticket}"></form>
<p class="or">${t('qr.or')}</p>
</section>
<script src="/assets/qr-login.js"></script>`;
}

export function phoneConfirmPage(
  t: Translator,
  opts: {
    action: string;
    /** Where the page's script claims the ticket for this phone (opening the page only reads it). */
    claim: string;
    csrf: string;
    ticket: string;
    client: ClientView;
    scopes: string[];
    desktop: { ip: string | null; ua: string | null; at: Date };
    /** The proximity policy's verdict on the computer's and this phone's addresses (http/address.ts). */
    network: { warn: boolean; refuse: boolean };
    /** How this phone is signed in. */
    signedInWith: 'passkey' | 'password' | 'upstream';
    /** Approving means picking the number the computer shows (its three choices come with the claim). */
    numberMatching?: boolean;
    /** The account this phone approves as, and how to switch to another (keeping the code in hand). */
    account?: AccountView | undefined;
    switchAccount?: SwitchAccount | undefined;
  },
): string {
  const refuse = opts.network.refuse;
  const approve = opts.numberMatching
    ? html`<fieldset class="numbers" data-numbers>
<legend>${t('qrPhone.whichNumber')}</legend>
<div class="choices" data-number-choices aria-live="polite"></div>
</fieldset>
<button type="submit" name="decision" value="deny" class="decline">${t('confirm.decline')}</button>`
    : html`<div class="choices">
<button type="submit" name="decision" value="deny" class="decline">${t('confirm.decline')}</button>
<button type="submit" name="decision" value="approve" class="primary">${t('confirm.approve')}</button>
</div>`;
  return page({
    title: t('qrPhone.title', { client: opts.client.name }),
    lang: t('lang.tag'),
    body: html`<div class="card">
<h1>${t('qrPhone.title', { client: opts.client.name })}</h1>
${clientHeader(opts.client, t)}
<p>${t('qrPhone.lead', { client: opts.client.name })}</p>
${opts.scopes.length ? html`<p>${t('confirm.asks')}</p>${scopeList(t, opts.scopes)}` : ''}
<dl>
<dt>${t('qrPhone.computer')}</dt><dd data-field="device">${t('claims.says', { what: describeDevice(t, opts.desktop.ua ?? undefined) })}</dd>
<dt>${t('confirm.ip')}</dt><dd data-field="ip">${displayAddress(opts.desktop.ip)}</dd>
<dt>${t('confirm.when')}</dt><dd data-field="when">${timeAgo(t, opts.desktop.at)}</dd>
</dl>
<p class="muted" data-field="claims">${t('claims.note')}</p>
${opts.account ? accountLine(t, opts.account) : ''}
<p class="muted" data-field="signed-in-with">${t(`signedIn.${opts.signedInWith}`)}</p>
${opts.network.warn ? html`<p class="error" role="alert" data-field="network">${t('qrPhone.otherNetwork')}</p>` : ''}
${refuse ? html`<p class="error" role="alert" data-field="network">${t('qrPhone.mustBeNear')}</p>` : ''}
<p><strong>${t('qrPhone.question')}</strong></p>
<p class="muted" data-field="warning">${t('confirm.warning')}</p>
<p class="error" role="alert" data-paused hidden>${t('qrPhone.paused')}</p>
<form method="post" action="${opts.action}" data-claim="${opts.claim}">
<input type="hidden" name="csrf" value="${opts.csrf}">
<input type="hidden" name="ticket" value="${opts.ticket}">
${refuse ? html`<button type="submit" name="decision" value="deny" class="decline">${t('confirm.decline')}</button>` : approve}
<button type="submit" name="decision" value="report" class="report">${t('qrPhone.report')}</button>
</form>
${switchAccountForm(t, opts.switchAccount)}
</div>
<script src="/assets/qr-phone.js"></script>`,
  });
}

/**
 * A wrong number was picked: the sign-in is declined already; the page says why in plain words and offers the report
 * (the one thing left to do).
 */
export function phoneWrongNumberPage(t: Translator, opts: { action: string; csrf: string; ticket: string }): string {
  return page({
    title: t('qrPhone.wrong.title'),
    lang: t('lang.tag'),
    body: html`<div class="card" data-outcome="wrong-number">
<h1>${t('qrPhone.wrong.title')}</h1>
<p>${t('qrPhone.wrong.body')}</p>
<form method="post" action="${opts.action}">
<input type="hidden" name="csrf" value="${opts.csrf}">
<input type="hidden" name="ticket" value="${opts.ticket}">
<button type="submit" name="decision" value="report" class="report">${t('qrPhone.report')}</button>
</form>
${nextSteps([{ href: '/account/devices', label: t('next.devices') }])}
</div>`,
  });
}

export type PhoneOutcome = 'approved' | 'denied' | 'reported' | 'tooFar' | 'claimed' | 'expired' | 'unknown' | 'paused';

/** The phone's final pages for a desktop code: what happened, whose account, where next. */
export function phoneOutcomePage(t: Translator, outcome: PhoneOutcome, client = '', account?: AccountView): string {
  const lang = t('lang.tag');
  const devices = { href: '/account/devices', label: t('next.devices') };
  const line = account ? { label: accountLabel(account), line: t('account.doneAs', { account: accountLabel(account) }) } : undefined;
  switch (outcome) {
    case 'approved':
      return messagePage({
        lang,
        title: t('qrPhone.approved.title'),
        message: t('qrPhone.approved.body', { client }),
        status: 'success',
        account: line,
        next: [{ ...devices, primary: true }],
      });
    case 'denied':
      return messagePage({ lang, title: t('denied.title'), message: t('qrPhone.denied.body'), next: [devices] });
    case 'reported':
      return messagePage({ lang, title: t('reported.title'), message: t('reported.body'), next: [{ ...devices, primary: true }] });
    case 'tooFar':
      return messagePage({ lang, title: t('common.error.title'), message: t('qrPhone.mustBeNear'), status: 'error', next: [devices] });
    case 'claimed':
      return messagePage({
        lang,
        title: t('qrPhone.claimed.title'),
        message: `${t('qrPhone.claimed.body')} ${t('qrPhone.claimed.advice')}`,
        status: 'error',
        next: [devices],
      });
    case 'expired':
      return messagePage({ lang, title: t('qrPhone.expired.title'), message: t('qrPhone.expired.body'), status: 'error', next: [devices] });
    case 'paused':
      return messagePage({ lang, title: t('throttle.title'), message: t('qrPhone.paused'), status: 'error', next: [devices] });
    default:
      return messagePage({ lang, title: t('qrPhone.unknown.title'), message: t('qrPhone.unknown.body'), status: 'error', next: [devices] });
  }
}
