import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyError, toProxyError } from './errors.js';

test('maps connection failures to 502, timeouts to 504, a gone client to 499', () => {
  const cases: [unknown, string, number][] = [
    [Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 'LB_ERR_UPSTREAM_CONNECT', 502],
    [Object.assign(new Error('x'), { cause: { code: 'ECONNREFUSED' } }), 'LB_ERR_UPSTREAM_CONNECT', 502],
    [Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }), 'LB_ERR_UPSTREAM_RESET', 502],
    [Object.assign(new Error('x'), { code: 'ECONNRESET' }), 'LB_ERR_UPSTREAM_RESET', 502],
    [Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' }), 'LB_ERR_UPSTREAM_TIMEOUT', 504],
    [Object.assign(new Error('x'), { code: 'HPE_INVALID_CONSTANT' }), 'LB_ERR_UPSTREAM_PROTOCOL', 502],
    [Object.assign(new Error('x'), { code: 'UND_ERR_ABORTED' }), 'LB_ERR_CLIENT_CLOSED', 499],
    [new Error('surprise'), 'LB_ERR_INTERNAL', 500],
  ];
  for (const [err, code, status] of cases) {
    const mapped = toProxyError(err);
    assert.equal(mapped.code, code);
    assert.equal(mapped.status, status);
    assert.equal(mapped.cause, err);
  }
});

test('a ProxyError passes through unchanged', () => {
  const err = new ProxyError('LB_ERR_NO_BACKEND', 'no healthy backend');
  assert.equal(toProxyError(err), err);
  assert.equal(err.status, 503);
});
