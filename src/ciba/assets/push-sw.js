// The push service worker (ciba/push.ts): shows a notification when an app asks for the account by name, and opens
// the request on the phone when it is tapped.
self.addEventListener('push', (event) => {
  const message = event.data ? event.data.json() : { title: 'Handoff', body: '', url: '/account/devices' };
  event.waitUntil(self.registration.showNotification(message.title, { body: message.body, data: { url: message.url }, tag: message.url }));
});
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL(event.notification.data?.url ?? '/account/devices', self.location.origin);
  // Only a page of this origin is opened.
  if (url.origin === self.location.origin) event.waitUntil(self.clients.openWindow(url.href));
});
