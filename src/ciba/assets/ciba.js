// "Waiting for you" on the account page (views/ciba.ts): follows the account's backchannel requests over the event
// stream, and shows the new list when one arrives or is answered elsewhere (no polling).
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
