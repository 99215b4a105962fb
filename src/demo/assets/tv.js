// The demo TV's waiting screen: starts a device authorization, shows the QR code, follows the status stream
// (pushed, never polled), and redeems its tokens once the phone approves. Served by Handoff itself (CSP 'self').
const $ = (id) => document.getElementById(id);
const box = document.querySelector('[data-client]');
const CLIENT = box.dataset.client;
// The page's words are the server's, in the reader's language; the script only fills in names and codes.
const fill = (id, name, value) => {
  const el = $(id);
  el.textContent = el.dataset.template.replace(`{${name}}`, value);
};
const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

function show(id) {
  for (const el of document.querySelectorAll('[data-step]')) el.hidden = el.dataset.step !== id;
}

async function start() {
  show('loading');
  const res = await fetch('/device/auth', {
    method: 'POST',
    body: new URLSearchParams({ client_id: CLIENT, scope: 'openid profile email offline_access' }),
  });
  const auth = await res.json();
  if (!res.ok) {
    $('error').textContent = auth.error_description || auth.error;
    show('failed');
    return;
  }
  $('qr').src = auth.verification_uri_complete_qr;
  $('code').textContent = auth.user_code;
  fill('scan-text', 'uri', auth.verification_uri);
  show('waiting');
  const events = new EventSource(auth.status_uri);
  events.onmessage = async (e) => {
    const { state, account, number } = JSON.parse(e.data);
    if (state === 'scanned') {
      // The code stays on screen (the phone asks to compare it), and with number matching the number to pick.
      $('scanned-code').textContent = auth.user_code;
      if (number) {
        $('number').textContent = String(number);
        $('number-box').hidden = false;
      }
      show('scanned');
    } else if (state === 'approved') {
      events.close();
      fill('approved-by', 'name', account || '');
      show('redeeming');
      await redeem(auth.device_code);
    } else if (state === 'denied' || state === 'expired') {
      events.close();
      $('ended').textContent = state === 'denied' ? box.dataset.declined : box.dataset.expired;
      show('ended');
    }
  };
}

async function redeem(deviceCode) {
  const res = await fetch('/token', {
    method: 'POST',
    body: new URLSearchParams({ grant_type: GRANT, device_code: deviceCode, client_id: CLIENT }),
  });
  const tokens = await res.json();
  if (!res.ok) {
    $('error').textContent = tokens.error_description || tokens.error;
    show('failed');
    return;
  }
  const me = await (await fetch('/me', { headers: { authorization: `Bearer ${tokens.access_token}` } })).json();
  fill('welcome', 'name', me.name ? `${me.name} (${me.preferred_username})` : me.preferred_username || me.sub);
  show('signed-in');
}

for (const b of document.querySelectorAll('button[data-restart]')) b.addEventListener('click', start);
start();
