import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import QRCode from 'qrcode';
import { purposeKey } from '../http/secrets.js';
import { formatUserCode, normalizeUserCode } from './user-code.js';

/**
 * QR codes of `verification_uri_complete` (RFC 8628 3.3.1).
 *
 * The image URL must not carry the user code in the clear (only `verification_uri_complete` may), and must not let
 * anyone render text of their choosing. So the URL holds a *QR handle*: the normalised user code sealed with
 * AES-256-GCM under a key derived from the cookie keys. Only Handoff can make one, and opening it yields nothing but
 * a user code, which is then checked against live device codes.
 */
export type QrFormat = 'svg' | 'png' | 'txt';

const keyFrom = (secret: string) => purposeKey(secret, 'qr-handle');

export function sealUserCode(userCode: string, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFrom(secret), iv);
  const body = Buffer.concat([cipher.update(userCode, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** The user code inside a handle, trying every key (newest first); undefined for anything not made by us. */
export function openUserCode(handle: string, secrets: string[]): string | undefined {
  if (!/^[\w-]{40,64}$/.test(handle)) return undefined;
  const raw = Buffer.from(handle, 'base64url');
  if (raw.length < 12 + 16 + 1) return undefined;
  for (const secret of secrets) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', keyFrom(secret), raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      const code = Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
      return normalizeUserCode(code);
    } catch {
      // not sealed with this key
    }
  }
  return undefined;
}

/** `verification_uri_complete` exactly as oidc-provider builds it. */
export function verificationUriComplete(issuer: string, userCode: string): string {
  const url = new URL(`${issuer}/device`);
  url.searchParams.set('user_code', formatUserCode(userCode));
  return url.toString();
}

const OPTIONS = { errorCorrectionLevel: 'M' as const, margin: 4 };

/**
 * A QR code drawn with Unicode half blocks, two modules per character row. The *light* modules (and a 2-module
 * quiet zone) are the printed blocks, so on the dark background most terminals use the code reads dark-on-light
 * as scanners expect.
 */
export function qrText(text: string): string {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: OPTIONS.errorCorrectionLevel });
  const size = modules.size;
  const quiet = 2;
  const dark = (r: number, c: number) => r >= 0 && c >= 0 && r < size && c < size && modules.get(r, c) === 1;
  const lines: string[] = [];
  for (let r = -quiet; r < size + quiet; r += 2) {
    let line = '';
    for (let c = -quiet; c < size + quiet; c += 1) {
      const top = !dark(r, c);
      const bottom = r + 1 < size + quiet && !dark(r + 1, c);
      line += top && bottom ? '█' : top ? '▀' : bottom ? '▄' : ' ';
    }
    lines.push(line);
  }
  return `${lines.join('\n')}\n`;
}

/** Renders a QR code. PNG: 720 px with the standard 4-module quiet zone, large enough to scan across a room. */
export async function renderQr(text: string, format: QrFormat): Promise<{ type: string; body: string | Buffer }> {
  if (format === 'png') return { type: 'image/png', body: await QRCode.toBuffer(text, { ...OPTIONS, type: 'png', width: 720 }) };
  if (format === 'svg') return { type: 'image/svg+xml', body: await QRCode.toString(text, { ...OPTIONS, type: 'svg' }) };
  return { type: 'text/plain; charset=utf-8', body: qrText(text) };
}
