import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CidrSet } from './cidr.js';
import { forwardedClient } from './client-address.js';

const trusted = new CidrSet(['10.0.0.0/8', 'fd00::/8']);

test('X-Forwarded-For is read right to left, trusted hops skipped', () => {
  const client = (xff: string | string[]) => forwardedClient('10.0.0.1', { 'x-forwarded-for': xff }, trusted);
  assert.equal(client('203.0.113.7'), '203.0.113.7');
  assert.equal(client('198.51.100.1, 203.0.113.7, 10.9.9.9'), '203.0.113.7', 'the spoofable left part is not believed');
  assert.equal(client('10.1.1.1, 10.2.2.2'), '10.1.1.1', 'every hop trusted: the leftmost');
  assert.equal(client(' 203.0.113.7 ,10.2.2.2 '), '203.0.113.7');
  assert.equal(client('203.0.113.7:4711'), '203.0.113.7', 'a port is dropped');
  assert.equal(client('[2001:DB8::7]:4711'), '2001:db8::7', 'brackets and port dropped, IPv6 in lower case');
  assert.equal(client('2001:db8::7, fd00::1'), '2001:db8::7');
  assert.equal(client('::ffff:203.0.113.7'), '203.0.113.7', 'IPv4-mapped unwrapped as a socket peer is');
  assert.equal(client('203.0.113.7, unknown, 10.2.2.2'), '10.2.2.2', 'a non-address ends the walk at the last believed hop');
  assert.equal(client('garbage'), '10.0.0.1', 'nothing believable: the peer');
  assert.equal(client(''), '10.0.0.1');
  assert.equal(client(',,,'), '10.0.0.1');
  assert.equal(client(['198.51.100.1', '203.0.113.7']), '203.0.113.7', 'repeated headers are one list');
});

test('Forwarded (RFC 7239): the for= of each element, quoted IPv6 with brackets and ports', () => {
  const client = (forwarded: string) => forwardedClient('10.0.0.1', { forwarded }, trusted);
  assert.equal(client('for=203.0.113.7'), '203.0.113.7');
  assert.equal(client('for=198.51.100.1, for=203.0.113.7;proto=https, for=10.3.3.3;by=10.0.0.1'), '203.0.113.7');
  assert.equal(client('proto=https;For="[2001:db8:cafe::17]:4711"'), '2001:db8:cafe::17');
  assert.equal(client('for="203.0.113.7:80"'), '203.0.113.7');
  assert.equal(client('for=unknown, for=10.3.3.3'), '10.3.3.3');
  assert.equal(client('for=_hidden'), '10.0.0.1');
  assert.equal(client('proto=https'), '10.0.0.1', 'an element without for=');
  assert.equal(client('for="[2001:db8::1"'), '10.0.0.1', 'an unclosed bracket');
});

test('X-Forwarded-For wins over Forwarded; neither: the peer', () => {
  assert.equal(forwardedClient('10.0.0.1', { 'x-forwarded-for': '203.0.113.1', forwarded: 'for=203.0.113.2' }, trusted), '203.0.113.1');
  assert.equal(forwardedClient('10.0.0.1', {}, trusted), '10.0.0.1');
});
