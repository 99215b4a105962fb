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
