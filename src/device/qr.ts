import QRCode from 'qrcode';
import { seal, unseal } from '../http/secrets.js';
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

export function sealUserCode(userCode: string, roots: string[]): string {
  return seal(roots, 'qr-handle', userCode);
}

/** The user code inside a handle; undefined for anything not made by us. */
export function openUserCode(handle: string, roots: string[]): string | undefined {
  const code = unseal(roots, 'qr-handle', handle);
  return code === undefined ? undefined : normalizeUserCode(code);
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
