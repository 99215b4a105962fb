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
 * How a text QR is drawn for a terminal:
 * - `ansi` (the default): black modules on a white field set by ANSI colour codes, so the code reads the same on a
 *   light or a dark terminal theme;
 * - `dark`: no colour codes, for a terminal with a dark background: the light modules are the printed blocks;
 * - `light`: no colour codes, for a light background: the dark modules are the printed blocks.
 * Either way with the standard 4-module quiet zone, two modules per character row (Unicode half blocks).
 */
export type TextTheme = 'ansi' | 'dark' | 'light';
export const TEXT_THEMES: readonly TextTheme[] = ['ansi', 'dark', 'light'];

export function qrText(text: string, theme: TextTheme = 'ansi'): string {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: OPTIONS.errorCorrectionLevel });
  const size = modules.size;
  const quiet = OPTIONS.margin;
  const dark = (r: number, c: number) => r >= 0 && c >= 0 && r < size && c < size && modules.get(r, c) === 1;
  // Which modules are drawn as blocks: with colour codes, the dark ones in black on white.
  const printed = theme === 'dark' ? (r: number, c: number) => !dark(r, c) : dark;
  const lines: string[] = [];
  for (let r = -quiet; r < size + quiet; r += 2) {
    let line = '';
    for (let c = -quiet; c < size + quiet; c += 1) {
      const top = printed(r, c);
      const bottom = r + 1 < size + quiet && printed(r + 1, c);
      line += top && bottom ? '█' : top ? '▀' : bottom ? '▄' : ' ';
    }
    lines.push(theme === 'ansi' ? `\x1b[30;107m${line}\x1b[0m` : line);
  }
  return `${lines.join('\n')}\n`;
}

/** Renders a QR code. PNG: 720 px with the standard 4-module quiet zone, large enough to scan across a room. */
export async function renderQr(
  text: string,
  format: QrFormat,
  theme: TextTheme = 'ansi',
): Promise<{ type: string; body: string | Buffer }> {
  if (format === 'png') return { type: 'image/png', body: await QRCode.toBuffer(text, { ...OPTIONS, type: 'png', width: 720 }) };
  if (format === 'svg') return { type: 'image/svg+xml', body: await QRCode.toString(text, { ...OPTIONS, type: 'svg' }) };
  return { type: 'text/plain; charset=utf-8', body: qrText(text, theme) };
}
