import assert from 'node:assert/strict';
import { formatUserCode, normalizeUserCode } from '../../src/device/user-code.js';

describe('user codes', () => {
  it('accepts any case, spaces and dashes', () => {
    for (const typed of ['BCDF-GHJK', 'bcdf-ghjk', 'bcdf ghjk', ' BcDf–GhJk '.replace('–', '-'), 'bcdfghjk', 'B C D F G H J K']) {
      assert.equal(normalizeUserCode(typed), 'BCDFGHJK', typed);
    }
  });
  it('refuses anything that is not a code of the alphabet', () => {
    for (const bad of ['', 'BCDF-GHJ', 'BCDF-GHJKL', 'ABCD-EFGH', '<script>', 'BCDF-GHJ1'])
      assert.equal(normalizeUserCode(bad), undefined, bad);
  });
  it('formats for display', () => {
    assert.equal(formatUserCode('BCDFGHJK'), 'BCDF-GHJK');
  });
});
