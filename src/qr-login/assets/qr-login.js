// The desktop login page's "sign in with your phone": follows the ticket over server-sent events (pushed, never
// polled), finishes the sign-in by itself once the phone approves (the desktop's own form post), and rotates the
// code while the page stays open, pausing after a few rotations until the user asks for more.
//
// A stream the server refuses (busy: 429 or 503) or that drops is not the end: the page re-reads the ticket's state
// once and reconnects with backoff (1 s doubling to 15 s), so an approval is never missed.
const box = document.querySelector('[data-qr]');
// On a narrow screen the section is hidden (a phone is never asked to scan): nothing to follow.
if (box && !window.matchMedia('(max-width: 40rem)').matches) {
  const img = document.getElementById('qr-image');
  const complete = box.querySelector('form[data-complete]');
  const every = Number(box.dataset.rotateSeconds) * 1000;
  const max = Number(box.dataset.maxRotations);
  let ticket = box.dataset.ticket;
  let rotations = 0;
  let events;
  let timer;
  let retry;
  let backoff = 1000;
  let done = false;

  const show = (name) => {
    for (const el of box.querySelectorAll('[data-view]')) el.hidden = el.dataset.view !== name;
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(rotate, every);
  };
  const stop = () => {
    if (events) events.close();
    events = undefined;
    clearTimeout(retry);
  };
  const eventsUrl = () => `${box.dataset.events}?ticket=${encodeURIComponent(ticket)}`;
  const handle = (message, current) => {
    const state = message.state;
    if (done || current !== ticket) return;
    if (state === 'scanned') {
      clearTimeout(timer);
      // Number matching: the number the phone will ask for (sent only once a phone has claimed the code).
      const numberBox = box.querySelector('[data-number-box]');
      if (numberBox && message.number) {
        box.querySelector('[data-number]').textContent = String(message.number);
        numberBox.hidden = false;
      }
      show('scanned');
    } else if (state === 'approved') {
      done = true;
      stop();
      complete.elements.ticket.value = ticket;
      complete.submit();
    } else if (state === 'denied') {
      stop();
      clearTimeout(timer);
      const text = box.querySelector('[data-denied-text]');
      if (text && message.reason === 'wrong_number') text.textContent = text.dataset.wrongNumber;
      show('denied');
    } else if (state === 'expired') {
      stop();
      rotate();
    }
  };
  const recover = async (current) => {
    // Re-read once, then try the stream again later.
    try {
      const res = await fetch(eventsUrl(), { headers: { accept: 'application/json' }, credentials: 'same-origin' });
      if (res.ok) handle(await res.json(), current);
    } catch {
      // offline for now: the reconnect below tries again
    }
    if (done || current !== ticket) return;
    clearTimeout(retry);
    retry = setTimeout(() => {
      if (!done && current === ticket) follow();
    }, backoff);
    backoff = Math.min(backoff * 2, 15000);
  };
  const follow = () => {
    stop();
    const current = ticket;
    const source = new EventSource(eventsUrl());
    events = source;
    source.onopen = () => {
      backoff = 1000;
    };
    source.onmessage = (e) => handle(JSON.parse(e.data), current);
    source.onerror = () => {
      // CONNECTING: the browser reconnects by itself. CLOSED: the server refused the stream; recover ourselves.
      if (source.readyState === EventSource.CLOSED && events === source) recover(current);
    };
  };
  async function rotate() {
    clearTimeout(timer);
    stop();
    if (rotations >= max) {
      show('paused');
      return;
    }
    rotations += 1;
    const res = await fetch(box.dataset.rotate, { method: 'POST', body: new URLSearchParams({ csrf: box.dataset.csrf, ticket }) });
    if (!res.ok) {
      show('paused');
      return;
    }
    const next = await res.json();
    ticket = next.ticket;
    img.src = next.qr;
    show('waiting');
    follow();
    schedule();
  }
  for (const b of box.querySelectorAll('[data-fresh]')) {
    b.addEventListener('click', () => {
      rotations = 0;
      rotate();
    });
  }
  follow();
  schedule();
}
