import { createPublicKey } from 'node:crypto';
import webpush from 'web-push';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import { type Lang, translator } from '../views/i18n.js';

/**
 * Web Push for backchannel approval: a phone that turned notifications on (its account page; ciba/assets/push.js and
 * the service worker `/push-sw.js`) is told at once when an app asks for the account by name.
 *
 * `web-push` (the Node library of the Web Push spec authors' test suite) makes each message: the payload encrypted
 * for the subscription (RFC 8291, aes128gcm) and signed for the push service with this deployment's VAPID key (RFC
 * 8292, made once and kept in the database). It is sent with `fetch` here, so the one rule of where it may go is
 * ours: a push service of the browsers (Google, Mozilla, Microsoft, Apple), over https, or a loopback endpoint when
 * the issuer itself is on loopback (a local trial, and the tests). Any other endpoint is refused when the
 * subscription is made, so a signed-in user cannot turn Handoff into a client of an address they name. A push
 * service that answers 404 or 410 has dropped the subscription: it is deleted.
 *
 * The message says only which app asks and links to the request; it carries nothing the phone's page does not show
 * once signed in.
 */
/** The browsers' push services: Chrome's, Firefox's, Edge's (one host per region) and Safari's. */
const PUSH_SERVICES = [
  /^fcm\.googleapis\.com$/,
  /^updates\.push\.services\.mozilla\.com$/,
  /^[a-z0-9-]+\.notify\.windows\.com$/,
  /^web\.push\.apple\.com$/,
];
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether a subscription's endpoint is one Handoff will send to (see above). */
export function pushEndpointAllowed(issuer: string, endpoint: string): boolean {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  if (url.username || url.password || endpoint.length > 2048) return false;
  if (LOOPBACK.has(url.hostname)) return LOOPBACK.has(new URL(issuer).hostname) && (url.protocol === 'http:' || url.protocol === 'https:');
  return url.protocol === 'https:' && url.port === '' && PUSH_SERVICES.some((p) => p.test(url.hostname));
}

/**
 * Whether a subscription's keys are what RFC 8291 needs: `p256dh` an uncompressed point on P-256 (65 bytes, checked
 * by importing it), `auth` 16 bytes. Anything else would only fail at every message.
 */
export function pushKeysValid(p256dh: string, auth: string): boolean {
  const point = Buffer.from(p256dh, 'base64url');
  if (Buffer.from(auth, 'base64url').length !== 16 || point.length !== 65 || point[0] !== 4) return false;
  try {
    createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
      format: 'jwk',
    });
    return true;
  } catch {
    return false;
  }
}

export interface WebPush {
  publicKey(): Promise<string>;
  /** False when the endpoint is another account's (a subscription belongs to the account that made it). */
  subscribe(accountId: string, sub: { endpoint: string; p256dh: string; auth: string }, lang: Lang, ua: string | null): Promise<boolean>;
  /** Tells the account's phones that `clientName` asks (never throws; sends in the background). */
  notify(accountId: string, clientName: string, requestId: string): void;
}

export function webPush(deps: { store: Store; issuer: string; log: Logger }): WebPush {
  let keys: Promise<{ publicKey: string; privateKey: string }> | undefined;
  const vapid = () => {
    keys ??= deps.store.push.vapid(() => webpush.generateVAPIDKeys());
    return keys;
  };
  // RFC 8292's subject: a way to reach whoever runs the service (an https URL, or mailto:).
  const subject = deps.issuer.startsWith('https:') ? deps.issuer : 'mailto:no-reply@localhost';

  async function send(accountId: string, clientName: string, requestId: string): Promise<void> {
    const subs = await deps.store.push.of(accountId);
    if (!subs.length) return;
    const { publicKey, privateKey } = await vapid();
    await Promise.all(
      subs.map(async (s) => {
        if (!pushEndpointAllowed(deps.issuer, s.endpoint)) return;
        const t = translator((s.lang === 'zh' ? 'zh' : 'en') as Lang);
        const payload = JSON.stringify({
          title: 'Handoff',
          body: t('push.body', { client: clientName }),
          url: `${deps.issuer}/account/requests/${requestId}`,
        });
        const request = webpush.generateRequestDetails({ endpoint: s.endpoint, keys: { p256dh: s.p256dh, auth: s.auth } }, payload, {
          vapidDetails: { subject, publicKey, privateKey },
          TTL: 300,
          urgency: 'high',
        });
        const url = new URL(request.endpoint);
        if (LOOPBACK.has(url.hostname)) url.protocol = 'http:';
        try {
          const answer = await fetch(url, {
            method: 'POST',
            headers: request.headers as Record<string, string>,
            body: request.body,
            redirect: 'manual',
            signal: AbortSignal.timeout(5000),
          });
          await answer.arrayBuffer();
          if (answer.status === 404 || answer.status === 410) await deps.store.push.remove(s.id);
          else if (answer.status >= 400) deps.log.warn('push refused', { status: answer.status, host: url.host });
        } catch (err) {
          deps.log.warn('push failed', { host: url.host, err });
        }
      }),
    );
  }

  return {
    publicKey: async () => (await vapid()).publicKey,
    subscribe: (accountId, sub, lang, ua) =>
      deps.store.push.subscribe({ account_id: accountId, endpoint: sub.endpoint, p256dh: sub.p256dh, auth: sub.auth, lang, ua }),
    notify(accountId, clientName, requestId) {
      send(accountId, clientName, requestId).catch((err: unknown) => deps.log.warn('push failed', { err }));
    },
  };
}
