import assert from 'node:assert/strict';
import { addressKey, sameNetwork } from '../../src/http/address.js';
import { displayAddress } from '../../src/views/address.js';

describe('client addresses', () => {
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
    assert.equal(sameNetwork('127.0.0.1', '::1'), true, 'loopback in either family is this machine');
    assert.equal(sameNetwork('::ffff:127.0.0.1', '127.0.0.2'), true);
    assert.equal(sameNetwork('127.0.0.1', '128.0.0.1'), false);
    assert.equal(sameNetwork('garbage', 'garbage'), false);
  });
  it('counts an IPv4 address alone and every address of an IPv6 /64 as one', () => {
    assert.equal(addressKey('203.0.113.7'), '203.0.113.7');
    assert.equal(addressKey('::ffff:203.0.113.7'), '203.0.113.7');
    assert.notEqual(addressKey('203.0.113.7'), addressKey('203.0.113.8'));
    assert.equal(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'));
    assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
    assert.equal(addressKey('<script>'), 'invalid');
    assert.equal(addressKey('\u0000'), 'invalid');
  });
  it('shows addresses as people read them', () => {
    assert.equal(displayAddress('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(displayAddress('::1'), '::1');
    assert.equal(displayAddress('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
    assert.equal(displayAddress(null), '—');
  });
});
