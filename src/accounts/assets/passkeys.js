// Passkeys in the browser: WebAuthn with a few lines of conversion (base64url <-> bytes), no third-party code.
//
// - On a sign-in page (`[data-passkey-signin]`): the "Sign in with a passkey" button asks for any passkey of this
//   site (discoverable credentials, no username), and where the browser supports it a passkey is also offered in the
//   username field's autofill (conditional mediation). The answer is posted as JSON; the server says where to go.
// - On the account page (`[data-passkey-register]`): "Add a passkey" creates one and reloads the list.
const b64 = (buf) =>
  btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
const bytes = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

const post = (url, body) =>
  fetch(url, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

// A credential as JSON (WebAuthn's RegistrationResponseJSON / AuthenticationResponseJSON), with its own response fields.
const credentialJSON = (cred, response) => ({
  id: cred.id,
  rawId: b64(cred.rawId),
  type: cred.type,
  clientExtensionResults: cred.getClientExtensionResults(),
  authenticatorAttachment: cred.authenticatorAttachment ?? undefined,
  response: { clientDataJSON: b64(cred.response.clientDataJSON), ...response },
});
const assertionJSON = (cred) =>
  credentialJSON(cred, {
    authenticatorData: b64(cred.response.authenticatorData),
    signature: b64(cred.response.signature),
    userHandle: cred.response.userHandle ? b64(cred.response.userHandle) : undefined,
  });

const signin = document.querySelector('[data-passkey-signin]');
if (signin && window.PublicKeyCredential) {
  const { options: optionsUrl, verify, csrf } = signin.dataset;
  const status = signin.querySelector('[data-passkey-status]');
  let pending;
  // `hints: ['hybrid']` ("Use a passkey from your phone"): the browser goes straight to its own cross-device flow, a
  // QR code on this screen and a Bluetooth proximity check with the phone.
  const ask = async (mediation, hints) => {
    const res = await post(optionsUrl, { csrf });
    if (!res.ok) throw new Error('options');
    const o = await res.json();
    pending?.abort();
    pending = new AbortController();
    const cred = await navigator.credentials.get({
      mediation,
      signal: pending.signal,
      publicKey: {
        challenge: bytes(o.challenge),
        rpId: o.rpId,
        timeout: o.timeout,
        userVerification: o.userVerification,
        allowCredentials: [],
        ...(hints ? { hints } : {}),
      },
    });
    const done = await post(verify, { csrf, response: assertionJSON(cred) });
    const answer = await done.json().catch(() => ({}));
    if (done.ok && answer.redirect && answer.offerLocal && signin.dataset.offerOptions) offer(answer.redirect);
    else if (done.ok && answer.redirect) location.assign(answer.redirect);
    else if (status) {
      status.hidden = false;
      status.textContent = answer.message ?? status.dataset.failed;
    }
  };
  // Signed in with a passkey from another device (a phone): offer one on this computer, then go on either way.
  const offer = (next) => {
    const panel = signin.querySelector('[data-passkey-offer]');
    if (!panel) return location.assign(next);
    for (const b of signin.querySelectorAll('[data-passkey-button], [data-passkey-hybrid]')) b.hidden = true;
    panel.hidden = false;
    panel.querySelector('[data-offer-skip]').addEventListener('click', () => location.assign(next));
    panel.querySelector('[data-offer-create]').addEventListener('click', async () => {
      try {
        const o = await (await post(signin.dataset.offerOptions, { csrf })).json();
        const cred = await navigator.credentials.create({
          publicKey: {
            ...o,
            challenge: bytes(o.challenge),
            user: { ...o.user, id: bytes(o.user.id) },
            excludeCredentials: (o.excludeCredentials ?? []).map((c) => ({ ...c, id: bytes(c.id) })),
          },
        });
        const response = credentialJSON(cred, {
          attestationObject: b64(cred.response.attestationObject),
          transports: cred.response.getTransports?.() ?? [],
        });
        await post(signin.dataset.offerRegister, { csrf, response });
      } catch {
        // not created: the sign-in goes on all the same
      }
      location.assign(next);
    });
  };
  const button = signin.querySelector('[data-passkey-button]');
  button?.removeAttribute('hidden');
  button?.addEventListener('click', () => ask('optional').catch(() => {}));
  const hybrid = signin.querySelector('[data-passkey-hybrid]');
  hybrid?.removeAttribute('hidden');
  hybrid?.addEventListener('click', () => ask('optional', ['hybrid']).catch(() => {}));
  PublicKeyCredential.isConditionalMediationAvailable?.().then((yes) => {
    if (yes && document.getElementById('username')) ask('conditional').catch(() => {});
  });
}

const register = document.querySelector('[data-passkey-register]');
if (register && window.PublicKeyCredential) {
  const { options: optionsUrl, verify, csrf } = register.dataset;
  const button = register.querySelector('button');
  const status = register.querySelector('[data-passkey-status]');
  button.hidden = false;
  button.addEventListener('click', async () => {
    try {
      const asked = await post(optionsUrl, { csrf });
      // The fresh sign-in this needs has run out while the page was open: confirm it is you, then come back.
      if (asked.status === 401) return location.assign(`/account/signin?fresh=1&back=${encodeURIComponent(location.pathname)}`);
      const o = await asked.json();
      const cred = await navigator.credentials.create({
        publicKey: {
          ...o,
          challenge: bytes(o.challenge),
          user: { ...o.user, id: bytes(o.user.id) },
          excludeCredentials: (o.excludeCredentials ?? []).map((c) => ({ ...c, id: bytes(c.id) })),
        },
      });
      const response = credentialJSON(cred, {
        attestationObject: b64(cred.response.attestationObject),
        transports: cred.response.getTransports?.() ?? [],
      });
      const name = register.querySelector('input[name="name"]')?.value ?? '';
      const res = await post(verify, { csrf, name, response });
      if (!res.ok) throw new Error('verify');
      location.assign('/account/devices?done=passkey-added');
    } catch (err) {
      // This authenticator already holds a passkey for the account (it was in excludeCredentials): say so, plainly.
      if (err?.name === 'InvalidStateError') status.textContent = status.dataset.exists;
      status.hidden = false;
    }
  });
}
