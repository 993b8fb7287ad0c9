import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessList, NOT_ALLOWED } from './access-list.js';

test('the most specific network decides; a tie is a deny; with an allow list, the rest is refused', () => {
  const list = new AccessList({ allow: ['10.1.2.3', '192.168.0.0/16', '2001:db8::/32'], deny: ['10.0.0.0/8', '192.168.0.0/16', '2001:db8:bad::/48'] });
  assert.equal(list.refusal('10.1.2.3'), undefined, 'a host allowed inside a denied network');
  assert.equal(list.refusal('10.1.2.4'), 'deny 10.0.0.0/8');
  assert.equal(list.refusal('192.168.1.1'), 'deny 192.168.0.0/16', 'the same network in both: denied');
  assert.equal(list.refusal('2001:db8::1'), undefined);
  assert.equal(list.refusal('2001:db8:bad::1'), 'deny 2001:db8:bad::/48');
  assert.equal(list.refusal('203.0.113.1'), NOT_ALLOWED);
  assert.equal(list.refusal('::ffff:10.1.2.3'), undefined);
  assert.equal(list.refusal(''), NOT_ALLOWED, 'no address at all, with an allow list');
});

test('a deny list alone lets the rest in; an empty list is no list', () => {
  const deny = new AccessList({ allow: [], deny: ['::1', '127.0.0.0/8'] });
  assert.equal(deny.refusal('::1'), 'deny ::1');
  assert.equal(deny.refusal('127.0.0.5'), 'deny 127.0.0.0/8');
  assert.equal(deny.refusal('::2'), undefined);
  assert.equal(deny.refusal(''), undefined);
  assert.ok(new AccessList({ allow: [], deny: [] }).empty);
  assert.ok(!deny.empty);
});
