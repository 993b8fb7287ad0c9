import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoff, MAX_BACKOFF_MS, renewAt, RENEW_JITTER } from './renewal.js';

const DAY = 86_400_000;

test('a 90-day certificate is due at day 60, earlier by at most 5% of its lifetime (jitter)', () => {
  const v = { notBefore: 0, notAfter: 90 * DAY };
  assert.equal(renewAt(v, 0), 60 * DAY);
  assert.equal(renewAt(v, 0.999999), 60 * DAY - 90 * DAY * RENEW_JITTER * 0.999999);
  assert.ok(renewAt(v, 0.5) > 55 * DAY && renewAt(v, 0.5) < 60 * DAY);
});

test('a failed order waits the check interval, doubled per failure, at most a day', () => {
  const hour = 3_600_000;
  assert.equal(backoff(1, hour, 0), hour);
  assert.equal(backoff(2, hour, 0), 2 * hour);
  assert.equal(backoff(3, hour, 0), 4 * hour);
  assert.equal(backoff(40, hour, 0), MAX_BACKOFF_MS);
  assert.equal(backoff(1, hour, 0.999999), hour * (1 - 0.25 * 0.999999));
});
