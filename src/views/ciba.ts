import { displayAddress } from './address.js';
import { describeDevice } from './device.js';
import { html, type SafeHtml } from './html.js';
import { type Translator, timeAgo } from './i18n.js';
import { page } from './layout.js';
import { type AccountView, accountLine, type ClientView, clientHeader, messagePage, type NextStep, scopeList } from './sign-in.js';

/**
 * The phone's pages of backchannel approval (ciba/phone.ts): the list of requests waiting for the account (on "Your
 * devices", kept current by its event stream) and the decision page, which says who asks (the app, and whether it
 * registered itself), what for (scopes), the message the app shows (`binding_message`), from where and when, as
 * whom, with Approve and Decline side by side and equally prominent, and "I didn't start this".
 */
export interface WaitingRequest {
  id: string;
  client: string;
  at: Date | string;
}

/** "Turn on notifications on this phone" (shown by the page's script where the browser can take push messages). */
export function pushSection(t: Translator, csrf: string): SafeHtml {
  return html`<section class="card" data-push data-csrf="${csrf}" hidden>
<h2>${t('push.title')}</h2>
<p>${t('push.lead')}</p>
<button type="button" class="secondary" data-push-enable>${t('push.enable')}</button>
<p class="success" data-push-on hidden>${t('push.on')}</p>
</section>`;
}

export function waitingSection(t: Translator, requests: WaitingRequest[], now = new Date()): SafeHtml {
  return html`<section data-ciba-waiting data-stream="/account/requests/events">
${
  requests.length
    ? html`<h1>${t('ciba.waiting.title')}</h1>
<p>${t('ciba.waiting.lead')}</p>
<ul class="devices">${requests.map(
        (r) => html`<li class="card" data-ciba-request="${r.id}">
<h2>${t('ciba.waiting.item', { client: r.client })}</h2>
<p class="muted">${timeAgo(t, new Date(r.at), now)}</p>
<a class="button primary" href="/account/requests/${r.id}">${t('ciba.open')}</a>
</li>`,
      )}</ul>`
    : ''
}
</section>
<script src="/assets/ciba.js"></script>`;
}

export function decisionPage(
  t: Translator,
  opts: {
    action: string;
    csrf: string;
    client: ClientView;
    scopes: string[];
    bindingMessage: string | null;
    requester: { ip: string | null; ua: string | null; at: Date | string };
    account: AccountView;
    /** The app accepts only a passkey sign-in and this phone's is not: approving asks for one first. */
    needsPasskey?: string | undefined;
    now?: Date;
  },
): string {
  return page({
    title: t('ciba.title', { client: opts.client.name }),
    lang: t('lang.tag'),
    body: html`<div class="card">
<h1>${t('ciba.title', { client: opts.client.name })}</h1>
${clientHeader(opts.client, t)}
<p>${t('ciba.lead', { client: opts.client.name })}</p>
${opts.bindingMessage ? html`<p>${t('ciba.binding')}</p><p class="code" data-field="binding-message">${opts.bindingMessage}</p>` : ''}
${opts.scopes.length ? html`<p>${t('ciba.asks')}</p>${scopeList(t, opts.scopes)}` : ''}
<dl>
<dt>${t('ciba.from')}</dt><dd data-field="ip">${displayAddress(opts.requester.ip)} · ${t('claims.says', {
      what: describeDevice(t, opts.requester.ua ?? undefined),
    })}</dd>
<dt>${t('ciba.when')}</dt><dd data-field="when">${timeAgo(t, new Date(opts.requester.at), opts.now)}</dd>
</dl>
${accountLine(t, opts.account)}
${
  opts.needsPasskey
    ? html`<p data-field="needs-passkey">${t('ciba.needsPasskey')}</p><p><a class="button primary" href="${opts.needsPasskey}">${t('next.signIn')}</a></p>`
    : ''
}
<form method="post" action="${opts.action}">
<input type="hidden" name="csrf" value="${opts.csrf}">
<div class="choices">
<button type="submit" name="decision" value="deny" class="decline">${t('ciba.decline')}</button>
${opts.needsPasskey ? '' : html`<button type="submit" name="decision" value="approve" class="primary">${t('ciba.approve')}</button>`}
</div>
<button type="submit" name="decision" value="report" class="link" data-report>${t('ciba.report')}</button>
</form>
</div>`,
  });
}

export function cibaOutcomePage(
  t: Translator,
  outcome: 'approved' | 'denied' | 'reported' | 'gone',
  client: string,
  account?: { label: string; line: string },
): string {
  const next: NextStep[] = [{ href: '/account/devices', label: t('next.devices'), primary: true }];
  return messagePage({
    lang: t('lang.tag'),
    title: t(`ciba.${outcome}.title`),
    message: t(`ciba.${outcome}.body`, { client }),
    status: outcome === 'approved' ? 'success' : outcome === 'gone' ? 'error' : undefined,
    next,
    account,
  });
}
