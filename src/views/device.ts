import { html } from './html.js';
import { page } from './layout.js';
import { scopeWords, type ClientView } from './sign-in.js';

/** The pages of the device flow's verification side (RFC 8628 3.3), shown on the user's phone. */

export function codeEntryPage(opts: { action: string; xsrf: string; error?: string; value?: string }): string {
  return page({
    title: 'Connect a device',
    body: html`<div class="card">
<h1>Connect a device</h1>
<p>Enter the code shown on the device you want to sign in.</p>
${opts.error ? html`<p class="error" role="alert">${opts.error}</p>` : ''}
<form method="post" action="${opts.action}" novalidate>
<input type="hidden" name="xsrf" value="${opts.xsrf}">
<label for="user_code">Code</label>
<input type="text" id="user_code" name="user_code" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" required autofocus value="${opts.value ?? ''}">
<button type="submit" class="primary">Continue</button>
</form>
</div>`,
  });
}

export function confirmPage(opts: {
  action: string;
  xsrf: string;
  userCode: string;
  client: ClientView;
  scopes: string[];
  device: { ip?: string | undefined; ua?: string | undefined } | undefined;
}): string {
  return page({
    title: 'Confirm device',
    body: html`<div class="card">
<h1>Sign in ${opts.client.name} on your device?</h1>
${opts.client.uri ? html`<p class="muted">${opts.client.uri}</p>` : ''}
<p>Check that this code matches the one on your device's screen:</p>
<p class="code" aria-label="code">${opts.userCode}</p>
${opts.scopes.length ? html`<p>It asks for:</p><ul class="scopes">${scopeWords(opts.scopes).map((w) => html`<li>${w}</li>`)}</ul>` : ''}
${
  opts.device
    ? html`<dl><dt>Device</dt><dd>${opts.device.ua ?? 'unknown'}</dd><dt>IP address</dt><dd>${opts.device.ip ?? 'unknown'}</dd></dl>`
    : ''
}
<p><strong>Only continue if you started this on a device in front of you.</strong> If someone sent you this code, decline.</p>
<form method="post" action="${opts.action}">
<input type="hidden" name="xsrf" value="${opts.xsrf}">
<input type="hidden" name="user_code" value="${opts.userCode}">
<div class="choices">
<button type="submit" name="abort" value="yes" class="decline">Decline</button>
<button type="submit" name="confirm" value="yes" class="primary">Approve</button>
</div>
</form>
</div>`,
  });
}
