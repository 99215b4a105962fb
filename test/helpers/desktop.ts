import * as oidc from 'openid-client';
import { decodePng } from './qr.js';
import { Phone, type Page } from './phone.js';

/**
 * Desktop scan-to-sign-in at the HTTP level: a desktop browser at a relying party's login page (its QR read from the
 * page's own image), and the phone's requests the decision page makes (claim, then decide).
 */
export interface DesktopLogin {
  desktop: Phone;
  page: Page;
  uid: string;
  csrf: string;
  ticket: string;
  /** The URL inside the QR code (`<issuer>/q/<secret>`). */
  qrUrl: string;
  verifier: string;
}

const attr = (html: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(html)?.[1];

/** Opens the relying party's authorization request on a fresh desktop browser and reads the QR section. */
export async function desktopLogin(
  rp: oidc.Configuration,
  redirectUri: string,
  params: Record<string, string> = {},
  desktop = new Phone(),
): Promise<DesktopLogin | { desktop: Phone; page: Page; verifier: string }> {
  desktop.userAgent = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: redirectUri,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: 's',
    ...params,
  });
  const page = await desktop.request(url.toString());
  const uid = /\/interaction\/([\w-]+)\/login/.exec(page.html)?.[1];
  const ticket = attr(page.html, 'data-ticket');
  const csrf = attr(page.html, 'data-csrf');
  const png = /id="qr-image" src="data:image\/png;base64,([^"]+)"/.exec(page.html)?.[1];
  if (!uid || !ticket || !csrf || !png) return { desktop, page, verifier };
  const qrUrl = decodePng(Buffer.from(png, 'base64'));
  if (!qrUrl) throw new Error('the desktop QR code does not decode');
  return { desktop, page, uid, csrf, ticket, qrUrl, verifier };
}

export function hasQr(d: Awaited<ReturnType<typeof desktopLogin>>): d is DesktopLogin {
  return 'qrUrl' in d;
}

/** The number the desktop shows (number matching), read as the desktop's page reads it; undefined when none. */
export async function desktopNumber(d: DesktopLogin, base: string): Promise<number | undefined> {
  const res = await fetch(`${base}/interaction/${d.uid}/qr/events?ticket=${encodeURIComponent(d.ticket)}`, {
    headers: { accept: 'application/json', cookie: [...d.desktop.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
  });
  return ((await res.json()) as { number?: number }).number;
}

/**
 * The phone opens the QR link, its page claims the ticket, and the user decides: to approve, they pick the number the
 * desktop shows (`pick` overrides it: a wrong pick). Returns the decision's answer.
 */
export async function phoneDecides(phone: Phone, d: DesktopLogin, decision: 'approve' | 'deny' = 'approve', pick?: number): Promise<Page> {
  const page = await phone.request(d.qrUrl);
  const csrf = attr(page.html, 'name="csrf" value');
  const ticket = attr(page.html, 'name="ticket" value');
  if (!csrf || !ticket) return page;
  const base = new URL(d.qrUrl).origin;
  const claimed = await fetch(`${base}/q/claim`, {
    method: 'POST',
    body: new URLSearchParams({ csrf, ticket }),
    headers: { cookie: [...phone.cookies].map(([k, v]) => `${k}=${v}`).join('; '), ...phone.headers },
  });
  if (decision === 'approve' && claimed.status === 200) {
    const number = pick ?? (await desktopNumber(d, base));
    return phone.request(`${base}/q/decide`, { form: { csrf, ticket, pick: String(number) } });
  }
  return phone.submit(page, { decision });
}

/** The desktop finishes (what its page script does on `approved`); returns where it ends up. */
export function desktopCompletes(d: DesktopLogin, base: string): Promise<Page> {
  return d.desktop.request(`${base}/interaction/${d.uid}/qr/complete`, { form: { csrf: d.csrf, ticket: d.ticket } });
}
