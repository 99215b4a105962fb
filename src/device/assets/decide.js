// The phone's decision on a device code is sent once. A double tap on Approve would send the form twice, and only
// the first decision counts: the second tap's answer ("Code already used") would replace the page the first one led
// to (the sign-in, or "Device connected"). So a decision form submits once; a page brought back by the Back button
// can decide again (the server says then what has become of the code).
for (const form of document.querySelectorAll('form[data-decision]')) {
  form.addEventListener('submit', (event) => {
    if (form.dataset.sent) event.preventDefault();
    else form.dataset.sent = 'yes';
  });
}
addEventListener('pageshow', (event) => {
  if (!event.persisted) return;
  for (const form of document.querySelectorAll('form[data-decision]')) delete form.dataset.sent;
});
