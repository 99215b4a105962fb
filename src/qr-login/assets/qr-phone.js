// The phone's decision page for a desktop code: opening the link only read the ticket; this explicit request
// claims it for this phone, so the desktop shows "confirm on your phone" and no second phone can take it.
// With number matching the claim's answer carries the three numbers to choose from (the phone never sees them
// before): each becomes a button, and picking the one the computer shows is the approval.
const form = document.querySelector('form[data-claim]');
if (form) {
  const body = new URLSearchParams({ csrf: form.elements.csrf.value, ticket: form.elements.ticket.value });
  fetch(form.dataset.claim, { method: 'POST', body, credentials: 'same-origin' }).then(async (res) => {
    // Another phone claimed it first, or it expired: the page says so on reload. Scanning paused (too many wrong
    // numbers): said here, and nothing to pick.
    if (res.status === 409) return location.reload();
    if (res.status === 429) {
      document.querySelector('[data-paused]')?.removeAttribute('hidden');
      for (const b of form.querySelectorAll('[data-numbers], button[value="approve"]')) b.hidden = true;
      return;
    }
    const box = form.querySelector('[data-number-choices]');
    if (!box || res.status !== 200) return;
    const { choices } = await res.json();
    for (const n of choices) {
      const b = document.createElement('button');
      b.type = 'submit';
      b.name = 'pick';
      b.value = String(n);
      b.className = 'primary number';
      b.textContent = String(n);
      box.append(b);
    }
  });
}
