import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authKey } from './explain-key.js';

const b64url = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');

test('the key an authentication filter names in X-LB-Explain: the BasicAuth user, the JWT sub as claimed; never a password or a token', () => {
  const basic = `Basic ${Buffer.from('alice:pa:ss').toString('base64')}`;
  assert.equal(authKey('basic-auth', ['Authorization', basic]), 'user=alice');
  assert.equal(authKey('basic-auth', ['Host', 'x']), null, 'no credentials');
  assert.equal(authKey('basic-auth', ['authorization', 'Bearer abc']), null, 'another scheme');
  const token = `${b64url({ alg: 'RS256' })}.${b64url({ sub: 'user-42\u0007', iss: 'x' })}.signature`;
  assert.equal(authKey('jwt', ['authorization', `Bearer ${token}`]), 'sub=user-42?', 'printable ASCII only');
  assert.equal(authKey('jwt', ['authorization', 'Bearer not-a-jwt']), null);
  assert.equal(authKey('jwt', ['authorization', `Bearer ${b64url({})}.${b64url({ iss: 'x' })}.s`]), null, 'no sub');
  assert.equal(authKey('forward-auth', ['authorization', basic]), null, 'the auth service decides on what it is sent');
});
