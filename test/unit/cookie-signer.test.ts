import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { CookieSigner } from '../../src/http/cookie-signer.js';

/** How keygrip (the `cookies` package's default signer) signs: HMAC-SHA1, base64 made URL-safe, padding dropped. */
const keygripSign = (data: string, key: string) =>
  createHmac('sha1', key)
    .update(data)
    .digest('base64')
    .replace(/\/|\+|=/g, (x) => ({ '/': '_', '+': '-', '=': '' })[x] ?? '');

describe('cookie signer', () => {
  const key = fc.string({ minLength: 1, maxLength: 64 });

  it('signs exactly as keygrip does, so cookies issued before stay valid', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.array(key, { minLength: 1, maxLength: 4 }), (data, keys) => {
        const signer = new CookieSigner(keys);
        assert.equal(signer.sign(data), keygripSign(data, keys[0] as string));
        keys.forEach((k, i) => {
          const found = signer.index(data, keygripSign(data, k));
          assert.equal(found, keys.indexOf(k), `a cookie signed with key ${i} is found under the first equal key`);
        });
      }),
    );
  });

  it('refuses a digest no key made, a changed value, and an empty or truncated digest', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), key, key, (data, current, other) => {
        fc.pre(current !== other);
        const signer = new CookieSigner([current]);
        const digest = signer.sign(data);
        assert.equal(signer.verify(data, digest), true);
        assert.equal(signer.index(data, keygripSign(data, other)), -1);
        assert.equal(signer.verify(`${data}x`, digest), false);
        assert.equal(signer.verify(data, ''), false);
        assert.equal(signer.verify(data, digest.slice(1)), false);
      }),
    );
  });

  it('needs a key', () => {
    assert.throws(() => new CookieSigner([]));
  });
});
