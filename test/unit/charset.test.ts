import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import contentType from 'content-type';
import fc from 'fast-check';
import { charsetOf } from '../../src/http/body.js';

/** The declared charset as Koa reads it (`ctx.charset`), which the body reader must match whatever it remembers. */
function koaCharset(type: string): string {
  try {
    return contentType.parse(type).parameters.charset ?? '';
  } catch {
    return '';
  }
}

const request = (type: string) => ({ headers: { 'content-type': type } }) as unknown as IncomingMessage;

describe('the declared charset of a body', () => {
  it('reads every Content-Type as Koa does, the first time, again, and past the headers it remembers', () => {
    const parameter = fc.constantFrom('charset=UTF-8', 'charset="utf-8"', 'Charset=latin1', 'charset=', 'q=1', ';', 'charset=utf-16le');
    const type = fc
      .tuple(fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain', 'bad type', ''), parameter, fc.string())
      .map(([media, p, junk]) => `${media};${p}${junk}`);
    fc.assert(
      fc.property(fc.array(type, { minLength: 1, maxLength: 100 }), (types) => {
        for (const t of [...types, ...types]) assert.equal(charsetOf(request(t)), koaCharset(t), t);
      }),
      { numRuns: 50 },
    );
  });
});
