import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, ProxyError, toProxyError } from './proxy-error.js';

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

test('one classification for the proxy and the health checks: a code and a short reason', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  assert.deepEqual(classify(refused), { code: 'LB_ERR_UPSTREAM_CONNECT', reason: 'connection refused' });
  assert.deepEqual(classify(Object.assign(new Error('x'), { cause: { code: 'ENOTFOUND' } })), { code: 'LB_ERR_UPSTREAM_CONNECT', reason: 'host not found' });
  assert.deepEqual(classify(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), { code: 'LB_ERR_UPSTREAM_TIMEOUT', reason: 'connect timeout' });
  assert.equal(classify(Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })).reason, 'TLS error: self-signed certificate');
});

test('a ProxyError says how far its exchange had got: nothing sent, or sent without an answer', () => {
  const reset = Object.assign(new Error('x'), { code: 'ECONNRESET' });
  const early = toProxyError(reset, { beforeRequest: true, beforeResponse: true });
  assert.deepEqual([early.beforeRequest, early.beforeResponse], [true, true]);
  const late = toProxyError(reset, { beforeRequest: false, beforeResponse: true });
  assert.deepEqual([late.beforeRequest, late.beforeResponse], [false, true]);
});

test('whether a retry may follow travels with the error: any method before the request, idempotent ones before a response, never to the backend where it timed out', () => {
  const stage = (beforeRequest: boolean, beforeResponse: boolean) => ({ beforeRequest, beforeResponse });
  assert.equal(new ProxyError('LB_ERR_UPSTREAM_CONNECT', 'refused', { stage: stage(true, true) }).retry, 'any');
  assert.equal(new ProxyError('LB_ERR_UPSTREAM_RESET', 'reset', { stage: stage(false, true) }).retry, 'idempotent');
  assert.equal(new ProxyError('LB_ERR_UPSTREAM_RESET', 'reset', { stage: stage(false, false) }).retry, 'no');
  assert.equal(new ProxyError('LB_ERR_CLIENT_BODY_TIMEOUT', 'slow client').retry, 'no', 'the client\'s fault is never retried');
  assert.equal(new ProxyError('LB_ERR_REQUEST_TIMEOUT', 'REQUEST_TIMEOUT').retry, 'no');
  assert.equal(new ProxyError('LB_ERR_UPSTREAM_TIMEOUT', 'timeout', { stage: stage(false, true) }).sameBackend, false);
  assert.equal(new ProxyError('LB_ERR_UPSTREAM_RESET', 'reset', { stage: stage(false, true) }).sameBackend, true);
  const parser = Object.assign(new Error('Response does not match the HTTP/1.1 protocol'), { name: 'HTTPParserError' });
  assert.equal(classify(parser).code, 'LB_ERR_UPSTREAM_PROTOCOL', 'undici\'s parser error without a code is a bad response, not an internal error');
});
