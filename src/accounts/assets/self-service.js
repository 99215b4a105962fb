// Self-service account pages (views/self-service.ts), no third-party code.
//
// - A page a mailed link opens (`[data-link-form]`): the link's secret is after `#`, which the browser never sends;
//   it is moved into the form (posted by the person's click) and taken off the address bar.
// - The sign-up page (`[data-signup]`): "Create with a passkey" makes the account with a passkey instead of a
//   password (WebAuthn, a discoverable credential, user verification required).
// Everything in one block: page scripts share the global scope.
{
  const linkForm = document.querySelector('[data-link-form]');
  if (linkForm) {
    // Kept in this tab (sessionStorage) until the form is sent: a page that asks to sign in first comes back here
    // without the part after '#', and the link still works.
    const key = `handoff-link:${location.pathname}`;
    const token = location.hash.slice(1) || sessionStorage.getItem(key) || '';
    const field = linkForm.querySelector('[data-link-token]');
    if (token && !field.value) field.value = token;
    if (location.hash) {
      sessionStorage.setItem(key, token);
      history.replaceState(null, '', location.pathname);
    }
    linkForm.addEventListener('submit', () => sessionStorage.removeItem(key));
  }

  const b64 = (buf) =>
    btoa(String.fromCharCode(...new Uint8Array(buf)))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '');
  const bytes = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  const post = (url, body) =>
    fetch(url, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const signup = document.querySelector('[data-signup]');
  const panel = signup?.querySelector('[data-passkey-signup]');
  if (signup && panel && window.PublicKeyCredential) {
    panel.hidden = false;
    const status = panel.querySelector('[data-passkey-status]');
    const say = (text) => {
      status.hidden = false;
      status.textContent = text || status.dataset.failed;
    };
    panel.querySelector('[data-passkey-create]').addEventListener('click', async () => {
      const username = signup.elements.username;
      const email = signup.elements.email;
      if (!username.reportValidity() || !email.reportValidity()) return;
      const who = { csrf: signup.elements.csrf.value, username: username.value.trim(), email: email.value.trim() };
      try {
        const asked = await post(signup.dataset.options, who);
        const o = await asked.json();
        if (!asked.ok) return say(o.message);
        const cred = await navigator.credentials.create({
          publicKey: { ...o, challenge: bytes(o.challenge), user: { ...o.user, id: bytes(o.user.id) }, excludeCredentials: [] },
        });
        const response = {
          id: cred.id,
          rawId: b64(cred.rawId),
          type: cred.type,
          clientExtensionResults: cred.getClientExtensionResults(),
          authenticatorAttachment: cred.authenticatorAttachment ?? undefined,
          response: {
            clientDataJSON: b64(cred.response.clientDataJSON),
            attestationObject: b64(cred.response.attestationObject),
            transports: cred.response.getTransports?.() ?? [],
          },
        };
        const done = await post(signup.dataset.register, { ...who, userId: o.user.id, response });
        const answer = await done.json().catch(() => ({}));
        if (done.ok && answer.redirect) location.assign(answer.redirect);
        else say(answer.message);
      } catch {
        say();
      }
    });
  }
}
