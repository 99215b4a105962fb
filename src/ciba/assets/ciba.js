// "Waiting for you" on the account page (views/ciba.ts): follows the account's backchannel requests over the event
// stream, and shows the new list when one arrives or is answered elsewhere (no polling).
// Everything in one block: page scripts share the global scope (passkeys.js declares its own helpers).
{
  const section = document.querySelector('[data-ciba-waiting]');
  if (section && window.EventSource) {
    const shown = [...section.querySelectorAll('[data-ciba-request]')].map((e) => e.dataset.cibaRequest).join(',');
    const stream = new EventSource(section.dataset.stream);
    stream.onmessage = (event) => {
      const now = (JSON.parse(event.data).pending ?? []).join(',');
      if (now !== shown) {
        stream.close();
        location.reload();
      }
    };
  }

  // "Turn on notifications on this phone": a push subscription of this browser, for this account (ciba/push.ts).
  const b64 = (buf) =>
    btoa(String.fromCharCode(...new Uint8Array(buf)))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '');
  const bytes = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  const push = document.querySelector('[data-push]');
  if (push && 'serviceWorker' in navigator && 'PushManager' in window) {
    push.hidden = false;
    const on = () => {
      push.querySelector('[data-push-enable]').hidden = true;
      push.querySelector('[data-push-on]').hidden = false;
    };
    navigator.serviceWorker
      .getRegistration('/')
      .then((r) => r?.pushManager.getSubscription())
      .then((s) => s && on())
      .catch(() => {});
    push.querySelector('[data-push-enable]').addEventListener('click', async () => {
      const registration = await navigator.serviceWorker.register('/push-sw.js', { scope: '/' });
      const { publicKey } = await (await fetch('/account/push/key', { credentials: 'same-origin' })).json();
      const sub = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: bytes(publicKey) });
      const res = await fetch('/account/push', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          csrf: push.dataset.csrf,
          subscription: { endpoint: sub.endpoint, keys: { p256dh: b64(sub.getKey('p256dh')), auth: b64(sub.getKey('auth')) } },
        }),
      });
      if (res.ok) on();
    });
  }
}
