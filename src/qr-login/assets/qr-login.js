// The desktop login page's "sign in with your phone": follows the ticket over server-sent events (pushed, never
// polled), shows who scanned, finishes the sign-in by itself once the phone approves (the desktop's own form post),
// and rotates the code while the page stays open, pausing after a few rotations until the user asks for more.
const box = document.querySelector('[data-qr]');
if (box) {
  const img = document.getElementById('qr-image');
  const complete = box.querySelector('form[data-complete]');
  const every = Number(box.dataset.rotateSeconds) * 1000;
  const max = Number(box.dataset.maxRotations);
  let ticket = box.dataset.ticket;
  let rotations = 0;
  let events;
  let timer;

  const show = (name) => {
    for (const el of box.querySelectorAll('[data-view]')) el.hidden = el.dataset.view !== name;
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(rotate, every);
  };
  const follow = () => {
    if (events) events.close();
    events = new EventSource(`${box.dataset.events}?ticket=${encodeURIComponent(ticket)}`);
    events.onmessage = (e) => {
      const { state, account } = JSON.parse(e.data);
      if (state === 'scanned') {
        clearTimeout(timer);
        const p = box.querySelector('[data-view="scanned"] p');
        p.textContent = p.dataset.textTemplate.replace('{account}', account || '');
        show('scanned');
      } else if (state === 'approved') {
        events.close();
        complete.elements.ticket.value = ticket;
        complete.submit();
      } else if (state === 'denied') {
        events.close();
        clearTimeout(timer);
        show('denied');
      } else if (state === 'expired') {
        events.close();
        rotate();
      }
    };
  };
  async function rotate() {
    clearTimeout(timer);
    if (events) events.close();
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
