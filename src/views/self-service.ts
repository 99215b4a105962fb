import type { Translator } from './i18n.js';
import { html } from './html.js';
import { page } from './layout.js';
import { type ClientView, clientHeader } from './sign-in.js';

/**
 * The pages of self-service accounts (accounts/self-service.ts, oidc/signup-routes.ts): creating an account,
 * "Forgot password", and the two pages a mailed link opens. A mailed link carries its secret after `#`, which the
 * browser never sends: the page's script moves it into the form, so it is posted once, by a person's click, and never
 * reaches a log, a proxy or a mail scanner's prefetch (a prefetched GET takes nothing).
 */
export function signupPage(
  t: Translator,
  opts: {
    action: string;
    csrf: string;
    client: ClientView;
    signIn: string;
    username?: string;
    email?: string;
    error?: string;
    /** Where the page's script asks for passkey options and posts the new passkey (accounts/assets/self-service.js). */
    passkey: { options: string; register: string };
  },
): string {
  return page({
    title: t('signup.title'),
    lang: t('lang.tag'),
    body: html`<div class="card">
<h1>${t('signup.title')}</h1>
<p class="muted">${t('signup.then', { client: opts.client.name })}</p>
${clientHeader({ name: opts.client.name, selfRegistered: opts.client.selfRegistered }, t)}
${opts.error ? html`<p class="error" role="alert" data-field="error">${opts.error}</p>` : ''}
<form method="post" action="${opts.action}" autocomplete="on" data-signup data-options="${opts.passkey.options}" data-register="${opts.passkey.register}">
<input type="hidden" name="csrf" value="${opts.csrf}">
<label for="username">${t('signup.username')}</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="64" value="${opts.username ?? ''}" autofocus>
<p class="muted">${t('signup.usernameHint')}</p>
<label for="email">${t('signup.email')}</label>
<input type="email" id="email" name="email" autocomplete="email" required maxlength="254" value="${opts.email ?? ''}">
<p class="muted">${t('signup.emailHint')}</p>
<label for="password">${t('signup.password')}</label>
<input type="password" id="password" name="password" autocomplete="new-password" minlength="8" maxlength="1024" data-password>
<button type="submit" class="primary">${t('signup.submit')}</button>
<div data-passkey-signup hidden><p class="muted">${t('signup.orPasskey')}</p>
<button type="button" class="secondary" data-passkey-create>${t('signup.passkey')}</button>
<p class="error" role="alert" data-passkey-status data-failed="${t('error.passkey')}" hidden></p></div>
</form>
<p><a href="${opts.signIn}" data-sign-in>${t('signup.haveAccount')}</a></p>
</div>
<script src="/assets/self-service.js"></script>`,
  });
}

export function forgotPage(t: Translator, opts: { action: string; back?: string | undefined; error?: string }): string {
  return page({
    title: t('forgot.title'),
    lang: t('lang.tag'),
    body: html`<div class="card">
<h1>${t('forgot.title')}</h1>
${opts.error ? html`<p class="error" role="alert">${opts.error}</p>` : ''}
<p>${t('forgot.lead')}</p>
<form method="post" action="${opts.action}">
${opts.back ? html`<input type="hidden" name="back" value="${opts.back}">` : ''}
<label for="identifier">${t('forgot.label')}</label>
<input type="text" id="identifier" name="identifier" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="254" autofocus>
<button type="submit" class="primary">${t('forgot.submit')}</button>
</form>
${opts.back ? html`<p><a href="${opts.back}">${t('next.backToSignIn')}</a></p>` : ''}
</div>`,
  });
}

/** The page a mailed link opens: confirm an address, or choose a new password. */
export function linkPage(
  t: Translator,
  opts: {
    kind: 'verify' | 'reset';
    action: string;
    error?: string /** A re-drawn form keeps the secret it was posted with. */;
    token?: string;
    /** Confirming an address: the account signed in here, or where to sign in first (the link waits in the tab). */
    account?: string | undefined;
    signIn?: string;
  },
): string {
  const reset = opts.kind === 'reset';
  return page({
    title: t(reset ? 'reset.title' : 'verify.title'),
    lang: t('lang.tag'),
    body: html`<div class="card">
<h1>${t(reset ? 'reset.title' : 'verify.title')}</h1>
${opts.error ? html`<p class="error" role="alert" data-field="error">${opts.error}</p>` : ''}
<p>${t(reset ? 'reset.lead' : 'verify.lead')}</p>
${opts.account ? html`<p data-field="account"><strong>${t('verify.as', { account: opts.account })}</strong></p>` : ''}
${opts.signIn ? html`<p data-field="sign-in">${t('verify.signIn')}</p>` : ''}
<noscript><p class="error">${t('reset.noScript')}</p></noscript>
<form method="post" action="${opts.action}" data-link-form>
<input type="hidden" name="token" value="${opts.token ?? ''}" data-link-token>
${
  reset
    ? html`<label for="password">${t('reset.password')}</label>
<input type="password" id="password" name="password" autocomplete="new-password" minlength="8" maxlength="1024" required autofocus>
<label for="again">${t('reset.again')}</label>
<input type="password" id="again" name="again" autocomplete="new-password" minlength="8" maxlength="1024" required>`
    : ''
}
${
  opts.signIn
    ? html`<a class="button primary" href="${opts.signIn}">${t('next.signInToConfirm')}</a>`
    : html`<button type="submit" class="primary">${t(reset ? 'reset.submit' : 'verify.submit')}</button>`
}
</form>
</div>
<script src="/assets/self-service.js"></script>`,
  });
}

/** A mail's subject and plain text, in the language of the request that asked for it. */
export function mailText(
  t: Translator,
  kind: 'verify' | 'reset' | 'exists',
  vars: { account: string; email: string; link: string; minutes: number },
): { subject: string; text: string } {
  return { subject: t(`mail.${kind}.subject`), text: t(`mail.${kind}.body`, vars) };
}
