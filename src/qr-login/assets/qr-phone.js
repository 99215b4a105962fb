// The phone's decision page for a desktop code: opening the link only read the ticket; this explicit request
// claims it for this phone, so the desktop shows "confirm on your phone" and no second phone can take it.
const form = document.querySelector('form[data-claim]');
if (form) {
  const body = new URLSearchParams({ csrf: form.elements.csrf.value, ticket: form.elements.ticket.value });
  fetch(form.dataset.claim, { method: 'POST', body, credentials: 'same-origin' }).then((res) => {
    // Another phone claimed it first, or it expired: the page says so on reload.
    if (res.status === 409) location.reload();
  });
}
