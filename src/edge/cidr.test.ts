import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CidrSet, parseCidr } from './cidr.js';
import { parseIp, parseIpv4 } from './ip.js';

function words(text: string): number[] | undefined {
  const out = new Uint32Array(4);
  return parseIp(text, 0, text.length, out) ? [...out] : undefined;
}

test('addresses parse into four words; IPv4 in its IPv4-mapped form', () => {
  assert.deepEqual(words('10.1.2.3'), [0, 0, 0xffff, 0x0a010203]);
  assert.deepEqual(words('::ffff:10.1.2.3'), [0, 0, 0xffff, 0x0a010203]);
  assert.deepEqual(words('::ffff:a01:203'), [0, 0, 0xffff, 0x0a010203]);
  assert.deepEqual(words('::1'), [0, 0, 0, 1]);
  assert.deepEqual(words('::'), [0, 0, 0, 0]);
  assert.deepEqual(words('2001:db8::'), [0x20010db8, 0, 0, 0]);
  assert.deepEqual(words('2001:DB8:0:0:1:2:3:4'), [0x20010db8, 0, 0x00010002, 0x00030004]);
  assert.deepEqual(words('fe80::1%eth0'), [0xfe800000, 0, 0, 1]);
  assert.deepEqual(words('1:2:3:4:5:6:7::'), [0x00010002, 0x00030004, 0x00050006, 0x00070000]);
  for (const bad of ['', '1', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4 ', 'a.b.c.d', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9',
    '12345::', 'g::', ':1', '1:', '1:2:3:4:5:6:7:8::', '::1.2.3', 'unknown', '_hidden', '1.2.3.4:80']) {
    assert.equal(words(bad), undefined, `${JSON.stringify(bad)} is not an address`);
  }
  assert.equal(parseIpv4('x1.2.3.4y', 1, 8), 0x01020304, 'a range of a longer string');
});

test('CIDRs: a network with its host bits zero, or a bare address', () => {
  assert.equal(parseCidr('10.0.0.0/8')?.bits, 104);
  assert.equal(parseCidr('10.1.2.3')?.bits, 128);
  assert.equal(parseCidr('fd00::/8')?.bits, 8);
  assert.equal(parseCidr('0.0.0.0/0')?.bits, 96);
  assert.equal(parseCidr('::/0')?.bits, 0);
  for (const bad of ['10.0.0.1/8', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/', '10.0.0.0/08', '10.0.0.0/-1', 'fd00::1/8', 'example.com', '10.0.0.0/8/8']) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
});

test('a CidrSet finds the longest network holding an address, IPv4-mapped peers included', () => {
  const set = new CidrSet(['10.0.0.0/8', '10.1.0.0/16', '127.0.0.1', '2001:db8::/32', '::1']);
  assert.equal(set.text(set.find('10.1.2.3')), '10.1.0.0/16');
  assert.equal(set.text(set.find('10.2.0.1')), '10.0.0.0/8');
  assert.equal(set.text(set.find('::ffff:10.2.0.1')), '10.0.0.0/8');
  assert.equal(set.text(set.find('127.0.0.1')), '127.0.0.1');
  assert.equal(set.find('127.0.0.2'), -1);
  assert.equal(set.text(set.find('2001:db8:ffff::9')), '2001:db8::/32');
  assert.equal(set.find('2001:db9::'), -1);
  assert.equal(set.text(set.find('::1')), '::1');
  assert.equal(set.find('::2'), -1);
  assert.equal(set.find('11.0.0.0'), -1);
  assert.equal(set.find('not an address'), -1);
  assert.equal(new CidrSet(['0.0.0.0/0']).find('::1'), -1, 'IPv4 everything is not IPv6');
  assert.ok(new CidrSet(['0.0.0.0/0']).has('203.0.113.7'));
  assert.ok(new CidrSet(['::/0']).has('2001:db8::1'));
  assert.throws(() => new CidrSet(['10.0.0.1/8']));
});
