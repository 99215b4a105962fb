import assert from 'node:assert/strict';
import { sameNetwork } from '../../src/qr-login/network.js';

describe('same network (IPv4 /24, IPv6 /64)', () => {
  it('compares IPv4 by /24, including IPv4-mapped IPv6', () => {
    assert.equal(sameNetwork('192.0.2.10', '192.0.2.200'), true);
    assert.equal(sameNetwork('::ffff:192.0.2.10', '192.0.2.99'), true);
    assert.equal(sameNetwork('192.0.2.10', '192.0.3.10'), false);
  });
  it('compares IPv6 by /64, with :: expanded', () => {
    assert.equal(sameNetwork('2001:db8:1:2::1', '2001:db8:1:2:ffff::9'), true);
    assert.equal(sameNetwork('2001:db8:1:2::1', '2001:db8:1:3::1'), false);
    assert.equal(sameNetwork('2001:0db8:0001:0002:0:0:0:1', '2001:db8:1:2::5'), true);
  });
  it('treats unknown or mixed families as different', () => {
    assert.equal(sameNetwork(undefined, '192.0.2.1'), false);
    assert.equal(sameNetwork('192.0.2.1', '2001:db8::1'), false);
    assert.equal(sameNetwork('garbage', 'garbage'), false);
  });
});
