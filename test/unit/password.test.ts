import assert from 'node:assert/strict';
import { hashPassword, verifyPassword } from '../../src/accounts/password.js';

const FAST = { cost: 1024, blockSize: 8, parallelization: 1 };

describe('password hashing (scrypt)', () => {
  it('verifies the right password only, with a fresh salt each time', async () => {
    const a = await hashPassword('hunter2 hunter2', FAST);
    const b = await hashPassword('hunter2 hunter2', FAST);
    assert.notEqual(a, b);
    assert.match(a, /^scrypt\$1024\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    assert.equal(await verifyPassword('hunter2 hunter2', a), true);
    assert.equal(await verifyPassword('hunter2 hunter3', a), false);
    assert.equal(await verifyPassword('', a), false);
  });

  it('verifies hashes made with other parameters (they are stored in the hash)', async () => {
    const strong = await hashPassword('pässwörd', { cost: 2048, blockSize: 8, parallelization: 1 });
    assert.equal(await verifyPassword('pässwörd', strong), true);
  });

  it('never matches a malformed stored hash', async () => {
    for (const bad of ['', 'plain', 'scrypt$1$2$3', 'bcrypt$1$2$3$4$5', 'scrypt$1024$8$1$c2FsdA$c2hvcnQ']) {
      assert.equal(await verifyPassword('x', bad), false, bad);
    }
  });
});
