import { html, type SafeHtml } from './html.js';
import { page } from './layout.js';

export interface ClientView {
  name: string;
  uri?: string | undefined;
}

const SCOPE_WORDS: Record<string, string> = {
  openid: 'Confirm who you are (your account id)',
  profile: 'Your name and username',
  email: 'Your email address',
  offline_access: 'Stay signed in when you are not using it',
};

/** Scopes in plain words; unknown scopes are shown as they are (escaped). */
export function scopeWords(scopes: string[]): string[] {
  return scopes.map((s) => SCOPE_WORDS[s] ?? `Access to "${s}"`);
}

export function loginPage(opts: { action: string; csrf: string; client: ClientView; username?: string; error?: string }): string {
  return page({
    title: 'Sign in',
    body: html`<div class="card">
<h1>Sign in to continue to ${opts.client.name}</h1>
${opts.error ? html`<p class="error" role="alert">${opts.error}</p>` : ''}
<form method="post" action="${opts.action}" autocomplete="on">
<input type="hidden" name="csrf" value="${opts.csrf}">
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${opts.username ?? ''}" ${opts.username ? '' : html`autofocus`}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required ${opts.username ? html`autofocus` : ''}>
<button type="submit" class="primary">Sign in</button>
</form>
</div>`,
  });
}

export function consentPage(opts: { action: string; csrf: string; client: ClientView; scopes: string[]; account: string }): string {
  const items: SafeHtml[] = scopeWords(opts.scopes).map((w) => html`<li>${w}</li>`);
  return page({
    title: 'Allow access',
    body: html`<div class="card">
<h1>${opts.client.name} wants to access your account</h1>
${opts.client.uri ? html`<p class="muted">${opts.client.uri}</p>` : ''}
<p>Signed in as <strong>${opts.account}</strong>. It will be able to:</p>
<ul class="scopes">${items}</ul>
<form method="post" action="${opts.action}">
<input type="hidden" name="csrf" value="${opts.csrf}">
<div class="choices">
<button type="submit" name="decision" value="deny" class="decline">Decline</button>
<button type="submit" name="decision" value="allow" class="primary">Allow</button>
</div>
</form>
</div>`,
  });
}

export function messagePage(opts: { title: string; message: string; status?: 'error' | 'success' }): string {
  return page({
    title: opts.title,
    body: html`<div class="card">
<h1 class="${opts.status ?? ''}">${opts.title}</h1>
<p>${opts.message}</p>
</div>`,
  });
}
