import type { DeviceApproval } from '../store/approvals.js';
import type { Consent } from '../store/consents.js';
import type { AccountSession } from '../store/sessions.js';
import { displayAddress } from './address.js';
import { describeDevice } from './device.js';
import { html, type SafeHtml } from './html.js';
import { pushSection, type WaitingRequest, waitingSection } from './ciba.js';
import { LOCALES, type MessageKey, type Translator, timeAgo } from './i18n.js';
import { page } from './layout.js';
import { scopeList } from './sign-in.js';

/**
 * When, as a person reads it: relative ("3 hours ago", "昨天"), with the exact instant in the element's `datetime`
 * and, as its tooltip, in the reader's language (the page does not know the reader's time zone, so UTC is named).
 */
function when(t: Translator, at: Date | string, now: Date): SafeHtml {
  const d = new Date(at);
  const exact = `${d.toLocaleString(LOCALES[t.lang], { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })} UTC`;
  return html`<time datetime="${d.toISOString()}" title="${exact}">${timeAgo(t, d, now)}</time>`;
}

/** An instant in the reader's language, to the minute (UTC, named). */
function exactTime(t: Translator, at: Date | string): string {
  return `${new Date(at).toLocaleString(LOCALES[t.lang], { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })} UTC`;
}

/** "Living-room TV — Samsung TV (Tizen)": the app, then the device as a person names it. */
export function approvalTitle(t: Translator, a: DeviceApproval): string {
  return `${a.client_name ?? a.client_id} — ${describeDevice(t, a.device_ua ?? undefined)}`;
}

/** What an action of the account pages did, as the page says it after its redirect (`?done=<key>`). */
const DONE = {
  revoked: 'done.revoked',
  'app-removed': 'done.appRemoved',
  'passkey-added': 'done.passkeyAdded',
  'passkey-renamed': 'done.passkeyRenamed',
  'passkey-removed': 'done.passkeyRemoved',
  linked: 'done.linked',
  unlinked: 'done.unlinked',
  'email-sent': 'done.emailSent',
} as const satisfies Record<string, MessageKey>;
export type DoneKey = keyof typeof DONE;
export const isDoneKey = (v: unknown): v is DoneKey => typeof v === 'string' && Object.hasOwn(DONE, v);

/** The account's address: confirmed (it can recover the account), or not yet, with "send the link again". */
function emailSection(t: Translator, email: { address: string | null; verified: boolean; canSend: boolean }, csrf: string) {
  return html`<h1>${t('email.title')}</h1>
<div class="card" data-field="email" data-verified="${email.verified ? 'yes' : 'no'}">${
    email.address
      ? html`<p><strong>${email.address}</strong></p><p class="muted">${t(email.verified ? 'email.verified' : 'email.unverified')}</p>${
          !email.verified && email.canSend
            ? html`<form method="post" action="/account/email/confirm"><input type="hidden" name="csrf" value="${csrf}"><button type="submit" class="secondary">${t('email.resend')}</button></form>`
            : ''
        }`
      : html`<p class="muted">${t('email.none')}</p>`
  }</div>`;
}

/** Your account: the devices and computers signed in from it, the apps allowed to use it, and sign-out. */
export function accountPage(
  t: Translator,
  opts: {
    account: string;
    approvals: DeviceApproval[];
    apps: Array<Consent & { name: string }>;
    csrf: string;
    signOut: string;
    passkeys: Array<{
      id: string;
      name: string;
      created_at: Date | string;
      last_used_at: Date | string | null;
      created_ip?: string | null;
      created_ua?: string | null;
    }>;
    /** Whether this session signed in recently enough (with a passkey, once there is one) to add or remove passkeys. */
    passkeysUnlocked?: boolean;
    /** Where to confirm it is you first. */
    freshSignIn?: string;
    sessions?: AccountSession[];
    /** All live sessions, when more than are listed. */
    sessionCount?: number;
    /** This browser's session uid (marked in the list). */
    thisSession?: string;
    recent: Array<{ at: Date | string; method: string; ip: string | null; ua: string | null }>;
    /** Upstream providers this account can link or has linked (and, while disabled, still shows as linked). */
    upstreams?: Array<{ id: string; name: string; linkedAt: Date | string | null }>;
    /** Apps waiting for this account's approval (backchannel requests), followed live. */
    waiting?: WaitingRequest[];
    /** The account's address and whether it is confirmed (unconfirmed: "send the link again", when mail is set up). */
    email?: { address: string | null; verified: boolean; canSend: boolean };
    /** What was just done (after a redirect), said at the top: a fixed message, never text from the request. */
    done?: DoneKey | undefined;
    now?: Date;
  },
): string {
  const now = opts.now ?? new Date();
  // Each entry says what signed in (the app), how (a device's code or a computer's scan), on what (as the device
  // described itself), from where and exactly when, so two sign-ins of one app on one kind of device are told apart.
  const items = opts.approvals.map(
    (a) => html`<li class="card device" data-approval="${a.id}" data-kind="${a.kind}">
<h2>${a.client_name ?? a.client_id}</h2>
<dl>
<dt>${t('devices.on')}</dt><dd data-field="device">${t('claims.says', { what: describeDevice(t, a.device_ua ?? undefined) })}</dd>
<dt>${t('devices.from')}</dt><dd>${displayAddress(a.device_ip)}</dd>
<dt>${t('devices.approvedAt')}</dt><dd>${when(t, a.approved_at, now)} · ${exactTime(t, a.approved_at)}</dd>
</dl>
<p class="muted" data-field="how">${t(a.kind === 'desktop' ? 'devices.how.desktop' : a.kind === 'ciba' ? 'devices.how.ciba' : 'devices.how.device')}</p>
<a class="button decline" href="/account/devices/${a.id}/revoke">${t('devices.revoke')}</a>
</li>`,
  );
  const apps = opts.apps.map(
    (c) => html`<li class="card app" data-client="${c.client_id}">
<h2>${c.name}</h2>
${scopeList(t, c.scopes)}
<p class="muted">${t('apps.allowed')} ${when(t, c.updated_at, now)}</p>
<a class="button decline" href="/account/apps/${encodeURIComponent(c.client_id)}/remove">${t('apps.remove')}</a>
</li>`,
  );
  return page({
    title: t('devices.title'),
    lang: t('lang.tag'),
    body: html`${opts.done ? html`<p class="success card" role="status" data-done>${t(DONE[opts.done])}</p>` : ''}
${opts.waiting ? waitingSection(t, opts.waiting, now) : ''}
<h1>${t('devices.title')}</h1>
<p class="muted">${t('account.signedInAs', { name: opts.account })}</p>
<p>${t('devices.lead')}</p>
${items.length ? html`<ul class="devices">${items}</ul>` : html`<p>${t('devices.none')}</p>`}
<h1>${t('apps.title')}</h1>
<p>${t('apps.lead')}</p>
${apps.length ? html`<ul class="devices">${apps}</ul>` : html`<p>${t('apps.none')}</p>`}
${opts.email ? emailSection(t, opts.email, opts.csrf) : ''}
${opts.waiting ? pushSection(t, opts.csrf) : ''}
<h1>${t('passkeys.title')}</h1>
<p>${t('passkeys.lead')}</p>
${
  opts.passkeys.length
    ? html`<ul class="devices">${opts.passkeys.map(
        (p) => html`<li class="card passkey" data-passkey="${p.id}">
<form method="post" action="/account/passkeys/${encodeURIComponent(p.id)}/rename">
<input type="hidden" name="csrf" value="${opts.csrf}">
<label for="name-${p.id}">${t('passkeys.rename.label')}</label>
<input type="text" id="name-${p.id}" name="name" value="${p.name}" maxlength="64" required>
<button type="submit" class="secondary">${t('passkeys.rename')}</button>
</form>
<dl>
<dt>${t('passkeys.added')}</dt><dd data-field="added">${when(t, p.created_at, now)}${
          p.created_ip || p.created_ua
            ? html` · ${describeDevice(t, p.created_ua ?? undefined)} · ${displayAddress(p.created_ip ?? null)}`
            : ''
        }</dd>
<dt>${t('passkeys.lastUsed')}</dt><dd>${p.last_used_at ? when(t, p.last_used_at, now) : t('passkeys.never')}</dd>
</dl>
<a class="button decline" href="/account/passkeys/${encodeURIComponent(p.id)}/remove">${t('passkeys.remove')}</a>
</li>`,
      )}</ul>`
    : html`<p>${t('passkeys.none')}</p>`
}
${
  opts.passkeysUnlocked === false
    ? html`<div class="card" data-field="fresh-sign-in"><p>${t('passkeys.freshSignIn')}</p>
<a class="button primary" href="${opts.freshSignIn ?? '/account/signin?fresh=1'}">${t('passkeys.confirmIdentity')}</a></div>`
    : html`<div data-passkey-register data-options="/account/passkeys/options" data-verify="/account/passkeys" data-csrf="${opts.csrf}">
<label for="passkey-name">${t('passkeys.newName')}</label>
<input type="text" id="passkey-name" name="name" maxlength="64" placeholder="${t('passkeys.placeholder')}">
<button type="button" class="primary" hidden>${t('passkeys.add')}</button>
<p class="error" role="alert" data-passkey-status data-exists="${t('error.passkeyExists')}" hidden>${t('passkeys.failed')}</p>
</div>
<script src="/assets/passkeys.js"></script>`
}
${
  opts.upstreams?.length
    ? html`<h1>${t('links.title')}</h1>
<p>${t('links.lead')}</p>
<ul class="devices">${opts.upstreams.map(
        (u) => html`<li class="card link" data-upstream="${u.id}" data-linked="${u.linkedAt ? 'yes' : 'no'}">
<h2>${u.name}</h2>
${
  u.linkedAt
    ? html`<p class="muted">${t('links.linked')} ${when(t, u.linkedAt, now)}</p>
<form method="post" action="/account/links/${encodeURIComponent(u.id)}/remove"><input type="hidden" name="csrf" value="${opts.csrf}"><button type="submit" class="decline">${t('links.unlink')}</button></form>`
    : html`<form method="post" action="/account/links/${encodeURIComponent(u.id)}"><input type="hidden" name="csrf" value="${opts.csrf}"><button type="submit" class="secondary">${t('links.link', { name: u.name })}</button></form>`
}
</li>`,
      )}</ul>`
    : ''
}
${
  opts.sessions
    ? html`<h1>${t('sessions.title')}</h1>
<p>${t('sessions.lead')}</p>
<ul class="devices">${opts.sessions.map(
        (x) => html`<li class="card session" data-session="${x.uid === opts.thisSession ? 'this' : 'other'}">
<h2>${describeDevice(t, x.ua ?? undefined)}${x.uid === opts.thisSession ? html` <span class="muted">(${t('sessions.this')})</span>` : ''}</h2>
<dl>
<dt>${t('confirm.ip')}</dt><dd>${displayAddress(x.ip)}</dd>
<dt>${t('sessions.method')}</dt><dd>${t(x.method === 'passkey' ? 'account.method.passkey' : x.method === 'password' ? 'account.method.password' : x.method === 'upstream' ? 'account.method.upstream' : 'sessions.method.unknown')}</dd>
<dt>${t('sessions.lastUsed')}</dt><dd>${x.last_used_at ? when(t, x.last_used_at, now) : x.signed_in_at ? when(t, x.signed_in_at, now) : ''}</dd>
</dl>
</li>`,
      )}</ul>
${(opts.sessionCount ?? 0) > opts.sessions.length ? html`<p class="muted" data-field="more-sessions">${t('sessions.more', { count: (opts.sessionCount ?? 0) - opts.sessions.length })}</p>` : ''}
<p><a class="button decline" href="/account/sessions/end">${t('sessions.endAll')}</a></p>`
    : ''
}
${
  opts.recent.length
    ? html`<h1>${t('account.recent')}</h1>
<ul class="devices">${opts.recent.map(
        (r) =>
          html`<li class="card signin" data-method="${r.method}">${when(t, r.at, now)} · ${t(r.method === 'passkey' ? 'account.method.passkey' : r.method === 'upstream' ? 'account.method.upstream' : 'account.method.password')} · ${describeDevice(t, r.ua ?? undefined)} · ${displayAddress(r.ip)}</li>`,
      )}</ul>`
    : ''
}
<p><a class="button" href="${opts.signOut}">${t('account.signOut')}</a></p>`,
  });
}

/** The step before ending something: what exactly ends, and two equal choices. */
export function confirmEndPage(
  t: Translator,
  opts: { title: string; what: string; detail: string; action: string; csrf: string; cancel: string },
): string {
  return page({
    title: opts.title,
    lang: t('lang.tag'),
    body: html`<div class="card">
<h1>${opts.title}</h1>
<p><strong>${opts.what}</strong></p>
<p>${opts.detail}</p>
<form method="post" action="${opts.action}">
<input type="hidden" name="csrf" value="${opts.csrf}">
<div class="choices">
<a class="button" href="${opts.cancel}">${t('account.cancel')}</a>
<button type="submit" class="decline">${opts.title}</button>
</div>
</form>
</div>`,
  });
}

/** The home page at `/`: what Handoff is, and the way in (sign in, or your account when signed in). */
export function homePage(t: Translator, opts: { account?: string | undefined; signOut: string }): string {
  return page({
    title: t('home.title'),
    lang: t('lang.tag'),
    body: html`<div class="card">
<h1>${t('home.title')}</h1>
<p>${t('home.lead')}</p>
${
  opts.account
    ? html`<p class="muted">${t('account.signedInAs', { name: opts.account })}</p>
<a class="button primary" href="/account/devices">${t('home.account')}</a>
<a class="button" href="/device">${t('home.connect')}</a>
<a class="button" href="${opts.signOut}">${t('account.signOut')}</a>`
    : html`<a class="button primary" href="/account/signin">${t('home.signIn')}</a>
<a class="button" href="/device">${t('home.connect')}</a>`
}
</div>`,
  });
}
