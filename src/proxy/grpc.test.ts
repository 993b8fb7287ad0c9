import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GRPC_NONE, GRPC_OTHER, grpcCode, grpcStatus, parseGrpcTimeout } from './grpc.js';

test('grpc-timeout: 1 to 8 digits and a unit (H, M, S, m, u, n), in milliseconds', () => {
  assert.equal(parseGrpcTimeout('1H'), 3_600_000);
  assert.equal(parseGrpcTimeout('2M'), 120_000);
  assert.equal(parseGrpcTimeout('3S'), 3000);
  assert.equal(parseGrpcTimeout('250m'), 250);
  assert.equal(parseGrpcTimeout('1500u'), 1.5);
  assert.equal(parseGrpcTimeout('2000000n'), 2);
  assert.equal(parseGrpcTimeout('99999999m'), 99_999_999, 'eight digits');
  assert.equal(parseGrpcTimeout('00000010S'), 10_000, 'leading zeros are digits like any');
  assert.equal(parseGrpcTimeout('0m'), 0, 'a deadline already passed');
});

test('grpc-timeout: a malformed value is no deadline (-1), never an exception', () => {
  for (const bad of [undefined, '', 'S', '5', '123456789S', '1.5S', '-1S', '+1S', ' 1S', '1S ', '1s', '1h', '1x', '1 S', '１S', 'abcS', '1SS']) {
    assert.equal(parseGrpcTimeout(bad), -1, JSON.stringify(bad));
  }
  assert.equal(parseGrpcTimeout(['1S', '2S']), -1, 'a repeated header');
  // Further out than a timer can be set (2^31-1 ms, about 24.8 days): no deadline.
  assert.equal(parseGrpcTimeout('99999999H'), -1);
  assert.equal(parseGrpcTimeout('596H'), 596 * 3_600_000);
  assert.equal(parseGrpcTimeout('597H'), -1);
});

test('grpc-status values: 0 to 16 as codes, anything else one bounded "other", none as none', () => {
  for (let code = 0; code <= 16; code++) assert.equal(grpcCode(String(code)), code);
  assert.equal(grpcCode(undefined), GRPC_NONE);
  for (const other of ['17', '99', '100', '', 'x', '1x', '-1', ' 1']) assert.equal(grpcCode(other), GRPC_OTHER, JSON.stringify(other));
  assert.equal(grpcCode(['0', '14']), GRPC_OTHER, 'repeated: not to be trusted');
});

test('the balancer\'s HTTP statuses as gRPC statuses: the gRPC mapping, with what the balancer knows of its own timeouts and limits', () => {
  const cases: [number, number][] = [
    [404, 12], [503, 14], [502, 14], [429, 8], [504, 4], [408, 4], [413, 8], [431, 8],
    [400, 13], [401, 16], [403, 7], [500, 13], [505, 13], [200, 2], [302, 2], [418, 2],
  ];
  for (const [http, code] of cases) assert.equal(grpcStatus(http), code, `HTTP ${http}`);
});
