import jsQRModule from 'jsqr';
import { PNG } from 'pngjs';

/** jsQR is CommonJS whose types describe an ES default export; take whichever shape Node hands us. */
type Decode = (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;
const jsQR: Decode = ((jsQRModule as unknown as { default?: Decode }).default ?? jsQRModule) as unknown as Decode;

/** Decodes a QR code in a PNG with jsQR, a decoder independent of the `qrcode` generator. */
export function decodePng(buf: Buffer): string | undefined {
  const png = PNG.sync.read(buf);
  return jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data;
}

/**
 * Decodes a text QR (device/qr.ts `qrText`) as a phone would read it off a terminal: each character cell is one module
 * wide and two tall, drawn in the terminal's colours (`theme`: a dark or a light background) unless ANSI colour codes
 * set them, inside a margin of the terminal's background. jsQR is told not to try the inverted image, as strict
 * scanners do not.
 */
export function decodeTerminalText(text: string, theme: 'dark' | 'light'): string | undefined {
  const themeFg = theme === 'dark' ? 255 : 0;
  const themeBg = 255 - themeFg;
  const scale = 4;
  const margin = 8;
  const ansi = /\x1b\[([\d;]*)m/g;
  const rows = text.split('\n').filter((l) => l.replace(ansi, '').length > 0);
  const cells = rows.map((line) => {
    const out: Array<{ top: number; bottom: number }> = [];
    let fg = themeFg;
    let bg = themeBg;
    for (const part of line.split(/(\x1b\[[\d;]*m)/)) {
      const code = /^\x1b\[([\d;]*)m$/.exec(part);
      if (code) {
        for (const n of (code[1] ?? '').split(';').map(Number)) {
          if (n === 0) [fg, bg] = [themeFg, themeBg];
          if (n === 30) fg = 0;
          if (n === 97 || n === 37) fg = 255;
          if (n === 40) bg = 0;
          if (n === 107 || n === 47) bg = 255;
        }
        continue;
      }
      for (const ch of part) {
        out.push({ top: ch === '█' || ch === '▀' ? fg : bg, bottom: ch === '█' || ch === '▄' ? fg : bg });
      }
    }
    return out;
  });
  const cols = Math.max(...cells.map((r) => r.length));
  const width = (cols + 2 * margin) * scale;
  const height = (rows.length * 2 + 2 * margin) * scale;
  const data = new Uint8ClampedArray(width * height * 4).fill(themeBg);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  const paint = (mx: number, my: number, v: number) => {
    for (let y = 0; y < scale; y += 1)
      for (let x = 0; x < scale; x += 1) {
        const at = (((my + margin) * scale + y) * width + (mx + margin) * scale + x) * 4;
        data[at] = v;
        data[at + 1] = v;
        data[at + 2] = v;
      }
  };
  cells.forEach((row, r) => {
    row.forEach((cell, c) => {
      paint(c, r * 2, cell.top);
      paint(c, r * 2 + 1, cell.bottom);
    });
  });
  const decode = jsQR as unknown as (
    d: Uint8ClampedArray,
    w: number,
    h: number,
    o: { inversionAttempts: string },
  ) => { data: string } | null;
  return decode(data, width, height, { inversionAttempts: 'dontInvert' })?.data;
}
