import type { Translator } from './i18n.js';
import { html, SafeHtml } from './html.js';
import { page } from './layout.js';

export interface ClientView {
  name: string;
  uri?: string | undefined;
  logo?: string | undefined;
  /** The app registered itself (RFC 7591): its name is its own word, which the page says. */
  selfRegistered?: boolean | undefined;
}

/** Scopes in plain words; unknown scopes are shown as they are (escaped). */
export function scopeWords(t: Translator, scopes: string[]): string[] {
  const known: Record<string, Parameters<Translator>[0]> = {
    openid: 'scope.openid',
    profile: 'scope.profile',
    email: 'scope.email',
    offline_access: 'scope.offline_access',
  };
  return scopes.map((s) => {
    const key = known[s];
    return key ? t(key) : t('scope.other', { scope: s });
  });
}

export function scopeList(t: Translator, scopes: string[]): SafeHtml {
  return html`<ul class="scopes">${scopeWords(t, scopes).map((w) => html`<li>${w}</li>`)}</ul>`;
}

/**
 * The client as a person sees it: its site, and for an app that registered itself, that no one here checked who it
 * is (anyone holding a registration token, or anyone at all when registration is open, can name an app "Netflix").
 */
export function clientHeader(client: ClientView, t?: Translator): SafeHtml {
  return html`${client.uri ? html`<p class="muted">${client.uri}</p>` : ''}${
    client.selfRegistered && t ? html`<p class="error" data-field="self-registered">${t('client.selfRegistered')}</p>` : ''
  }`;
}

export function loginPage(
  t: Translator,
  opts: {
    /** What this sign-in is for, when it says more than "continue to {client}". */
    title?: string;
    action: string;
    csrf: string;
    client: ClientView;
    username?: string;
    error?: string;
    qr?: SafeHtml;
    /** Where the page's script asks for passkey options and posts the answer (accounts/assets/passkeys.js). */
    passkey?: { options: string; verify: string };
    /** The app asked for a phishing-resistant sign-in (`acr_values=phr`): only a passkey is offered. */
    stepUp?: boolean;
    /**
     * A computer's sign-in page: "Use a passkey from your phone" (the browser's own FIDO cross-device flow, with its
     * Bluetooth proximity check), and after such a sign-in the offer of a passkey on this computer (`offer`: where the
     * page's script asks for its options and posts it).
     */
    hybrid?: { offer: { options: string; register: string } };
    /** Where "Cancel" posts (the sign-in ends with access_denied); `device`: this sign-in completes a device approval. */
    cancel?: { action: string; device: boolean };
    /** "Continue with …": one form per enabled upstream provider (oidc/upstream-routes.ts). */
    upstreams?: Array<{ id: string; name: string; action: string }>;
    /** "Forgot password?" and "Create an account" (accounts/self-service.ts, oidc/signup-routes.ts), when offered. */
    forgot?: string;
    signup?: string;
  },
): string {
  const passkey = opts.passkey
    ? html`<div data-passkey-signin data-options="${opts.passkey.options}" data-verify="${opts.passkey.verify}" data-csrf="${opts.csrf}"${
        opts.hybrid ? html` data-offer-options="${opts.hybrid.offer.options}" data-offer-register="${opts.hybrid.offer.register}"` : ''
      }>
<button type="button" class="primary" data-passkey-button hidden>${t('login.passkey')}</button>
${opts.hybrid ? html`<button type="button" data-passkey-hybrid hidden>${t('login.passkeyPhone')}</button>` : ''}
<div class="card" data-passkey-offer hidden><p>${t('login.offer')}</p>
<div class="choices"><button type="button" data-offer-skip>${t('login.offerSkip')}</button><button type="button" class="primary" data-offer-create>${t('login.offerCreate')}</button></div></div>
<p class="error" role="alert" data-passkey-status data-failed="${t('error.passkey')}" hidden></p>
${opts.stepUp ? html`<noscript><p class="error">${t('login.noPasskeySupport')}</p></noscript>` : ''}
</div>
<script src="/assets/passkeys.js"></script>`
    : '';
  return page({
    title: t('login.submit'),
    lang: t('lang.tag'),
    body: html`<div class="card">
<h1>${opts.title ?? t('login.title', { client: opts.client.name })}</h1>
${clientHeader({ name: opts.client.name, selfRegistered: opts.client.selfRegistered }, t)}
${opts.error ? html`<p class="error" role="alert">${opts.error}</p>` : ''}
${opts.cancel?.device ? html`<p data-field="completes">${t('login.completes', { client: opts.client.name })}</p>` : ''}
${opts.stepUp ? html`<p data-field="step-up">${t('login.passkeyRequired', { client: opts.client.name })}</p>` : ''}
${opts.qr ?? ''}
${
  opts.stepUp
    ? ''
    : html`<form method="post" action="${opts.action}" autocomplete="on">
<input type="hidden" name="csrf" value="${opts.csrf}">
<label for="username">${t('login.username')}</label>
<input type="text" id="username" name="username" autocomplete="username webauthn" autocapitalize="none" spellcheck="false" required value="${opts.username ?? ''}" ${opts.username ? '' : html`autofocus`}>
<label for="password">${t('login.password')}</label>
<input type="password" id="password" name="password" autocomplete="current-password" required ${opts.username ? html`autofocus` : ''}>
<button type="submit" class="primary">${t('login.submit')}</button>
${opts.forgot ? html`<p><a href="${opts.forgot}" data-forgot>${t('login.forgot')}</a></p>` : ''}
</form>`
}
${passkey}
${
  opts.upstreams?.length && !opts.stepUp
    ? html`<div class="upstreams" data-upstreams><p class="muted">${t('login.orUpstream')}</p>${opts.upstreams.map(
        (u) =>
          html`<form method="post" action="${u.action}"><input type="hidden" name="csrf" value="${opts.csrf}"><button type="submit" class="secondary" data-upstream="${u.id}">${t('login.continueWith', { name: u.name })}</button></form>`,
      )}</div>`
    : ''
}
${opts.signup && !opts.stepUp ? html`<p><a class="button secondary" href="${opts.signup}" data-signup-link>${t('login.signup')}</a></p>` : ''}
${
  opts.cancel
    ? html`<form method="post" action="${opts.cancel.action}"><input type="hidden" name="csrf" value="${opts.csrf}"><button type="submit" class="decline" data-cancel>${
        opts.cancel.device ? t('login.cancel') : t('login.cancelApp', { client: opts.client.name })
      }</button></form>`
    : ''
}
</div>`,
  });
}

export function consentPage(
  t: Translator,
  opts: { action: string; csrf: string; client: ClientView; scopes: string[]; account: string },
): string {
  return page({
    title: t('consent.allow'),
    lang: t('lang.tag'),
    body: html`<div class="card">
<h1>${t('consent.title', { client: opts.client.name })}</h1>
${clientHeader(opts.client, t)}
<p>${t('consent.signedInAs', { account: opts.account })}</p>
${scopeList(t, opts.scopes)}
<form method="post" action="${opts.action}">
<input type="hidden" name="csrf" value="${opts.csrf}">
<div class="choices">
<button type="submit" name="decision" value="deny" class="decline">${t('consent.deny')}</button>
<button type="submit" name="decision" value="allow" class="primary">${t('consent.allow')}</button>
</div>
</form>
</div>`,
  });
}

/** A way onward from a page that ends something: every final page offers at least one. */
export interface NextStep {
  href: string;
  label: string;
  primary?: boolean;
}

/** The onward links of a final page, in one row. */
export function nextSteps(steps: NextStep[]): SafeHtml {
  return html`<nav class="next" data-next>${steps.map((s) => html`<a class="button${s.primary ? ' primary' : ''}" href="${s.href}">${s.label}</a>`)}</nav>`;
}

/** The account a page acts for: "Signed in as Alice Example (alice)". */
export interface AccountView {
  name: string | null;
  username: string;
}
export const accountLabel = (a: AccountView) => (a.name ? `${a.name} (${a.username})` : a.username);

/** Where a decision page's "Not you? Switch account" posts: this browser signs out and signs in again, back to `back`. */
export interface SwitchAccount {
  csrf: string;
  back: string;
}

/** "Approving as Alice Example (alice)." on a decision page, above its buttons. */
export function accountLine(t: Translator, account: AccountView): SafeHtml {
  return html`<p class="muted" data-field="account">${t('account.as', { account: accountLabel(account) })}</p>`;
}

/** "Not you? Switch account", below a decision page's own form: this browser signs in again, back to the code. */
export function switchAccountForm(t: Translator, switcher: SwitchAccount | undefined): SafeHtml | string {
  return switcher
    ? html`<form method="post" action="/account/switch" data-switch><input type="hidden" name="csrf" value="${switcher.csrf}"><input type="hidden" name="back" value="${switcher.back}"><button type="submit" class="link">${t('account.switch')}</button></form>`
    : '';
}

export function messagePage(opts: {
  title: string;
  message: string;
  status?: 'error' | 'success';
  lang?: string;
  extra?: SafeHtml;
  /** What the person can do next (a final page always says). */
  next?: NextStep[];
  /** Whose account this was done for, said on the page. */
  account?: { label: string; line: string } | undefined;
}): string {
  return page({
    title: opts.title,
    lang: opts.lang ?? 'en',
    body: html`<div class="card">
<h1 class="${opts.status ?? ''}">${opts.title}</h1>
<p>${opts.message}</p>
${opts.account ? html`<p class="muted" data-field="account">${opts.account.line}</p>` : ''}
${opts.extra ?? ''}
${opts.next?.length ? nextSteps(opts.next) : ''}
</div>`,
  });
}

/**
 * RP-initiated logout's question. `form` is oidc-provider's own form (its id `op.logoutForm`, the xsrf field); the
 * two buttons submit it, "Sign out" with `logout=yes`.
 */
export function logoutPage(t: Translator, opts: { form: string; client?: string | undefined }): string {
  return page({
    title: t('logout.title'),
    lang: t('lang.tag'),
    body: html`<div class="card">
<h1>${t('logout.question')}</h1>
${opts.client ? html`<p>${t('logout.client', { client: opts.client })}</p>` : ''}
${new SafeHtml(opts.form)}
<div class="choices">
<button type="submit" form="op.logoutForm">${t('logout.no')}</button>
<button type="submit" form="op.logoutForm" class="primary" value="yes" name="logout" autofocus>${t('logout.yes')}</button>
</div>
</div>`,
  });
}
