import type { DeviceApproval } from '../accounts/devices.js';
import { describeDevice, displayIp } from './device.js';
import { html } from './html.js';
import type { Translator } from './i18n.js';
import { page } from './layout.js';

function when(t: Translator, at: Date | string): string {
  return `${new Date(at).toLocaleString(t.lang === 'zh' ? 'zh-CN' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })} UTC`;
}

export function devicesPage(t: Translator, opts: { account: string; approvals: DeviceApproval[]; csrf: string }): string {
  const items = opts.approvals.map(
    (a) => html`<li class="card device" data-approval="${a.id}">
<h2>${a.client_name ?? a.client_id}</h2>
<dl>
<dt>${t('confirm.device')}</dt><dd>${describeDevice(t, a.device_ua ?? undefined)}</dd>
<dt>${t('confirm.ip')}</dt><dd>${displayIp(a.device_ip)}</dd>
<dt>${t('devices.approved')}</dt><dd>${when(t, a.approved_at)}</dd>
</dl>
${
  a.revoked_at
    ? html`<p class="muted">${t('devices.revoked')}</p>`
    : html`<form method="post" action="/account/devices/${a.id}/revoke">
<input type="hidden" name="csrf" value="${opts.csrf}">
<button type="submit" class="decline">${t('devices.revoke')}</button>
</form>`
}
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
