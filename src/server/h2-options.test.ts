import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_LIMITS } from '../http1/index.js';
import { h2ServerOptions } from './h2-options.js';

test('HTTP/2 listeners advertise 100 concurrent streams and MAX_HEADER_SIZE as the header list size by default', () => {
  const options = h2ServerOptions(DEFAULT_LIMITS);
  assert.deepEqual(options.settings, { maxConcurrentStreams: 100, maxHeaderListSize: 16 * 1024 });
  assert.equal(options.maxSessionInvalidFrames, 100);
  assert.equal(options.maxSessionRejectedStreams, 100);
});

test('HTTP/2 listener options follow the limits: H2_MAX_CONCURRENT_STREAMS, MAX_HEADER_SIZE, and MAX_HEADERS past node\'s 128 fields', () => {
  const options = h2ServerOptions({ ...DEFAULT_LIMITS, h2MaxConcurrentStreams: 7, maxHeaderSize: 4096, maxHeaders: 500 });
  assert.deepEqual(options.settings, { maxConcurrentStreams: 7, maxHeaderListSize: 4096 });
  // One more than MAX_HEADERS must reach the listener (to be answered 431), pseudo-headers besides.
  assert.ok(options.maxHeaderListPairs! >= 500 + 1 + 4);
});
