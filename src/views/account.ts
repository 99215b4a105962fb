import type { DeviceApproval } from '../store/approvals.js';
import { displayAddress } from './address.js';
import { describeDevice } from './device.js';
import { html } from './html.js';
import type { Translator } from './i18n.js';
import { page } from './layout.js';

function when(t: Translator, at: Date | string): string {
  return `${new Date(at).toLocaleString(t.lang === 'zh' ? 'zh-CN' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })} UTC`;
}

/** "Your devices": each device approval and desktop sign-in, by app and device, each ended on its own. */
export function devicesPage(t: Translator, opts: { account: string; approvals: DeviceApproval[]; csrf: string }): string {
  const items = opts.approvals.map(
    (a) => html`<li class="card device" data-approval="${a.id}" data-kind="${a.kind}">
<h2>${a.client_name ?? a.client_id} — ${describeDevice(t, a.device_ua ?? undefined)}</h2>
<dl>
<dt>${t('devices.kind')}</dt><dd>${t(a.kind === 'desktop' ? 'devices.kind.desktop' : 'devices.kind.device')}</dd>
<dt>${t('confirm.ip')}</dt><dd>${displayAddress(a.device_ip)}</dd>
<dt>${t('devices.approved')}</dt><dd>${when(t, a.approved_at)}</dd>
</dl>
<form method="post" action="/account/devices/${a.id}/revoke">
<input type="hidden" name="csrf" value="${opts.csrf}">
<button type="submit" class="decline">${t('devices.revoke')}</button>
</form>
</li>`,
  );
  return page({
    title: t('devices.title'),
    lang: t('lang.tag'),
    body: html`<h1>${t('devices.title')}</h1>
<p class="muted">${opts.account}</p>
<p>${t('devices.lead')}</p>
${items.length ? html`<ul class="devices">${items}</ul>` : html`<p>${t('devices.none')}</p>`}`,
  });
}
