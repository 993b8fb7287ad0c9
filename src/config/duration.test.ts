import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from './duration.js';

test('parses Go-style durations', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('.5s'), 500);
  assert.equal(parseDuration('100us'), 0.1);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('2h45m'), 9_900_000);
});

test('rejects what Go rejects, and negatives', () => {
  for (const bad of ['', '10', 's', '10x', '-1s', '1s ', ' 1s', '1 s', '1e3s', 'ms', '1.2.3s', '10S']) {
    assert.equal(parseDuration(bad), undefined, bad);
  }
});

test('formats durations as Go does', () => {
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(250), '250ms');
  assert.equal(formatDuration(10_000), '10s');
  assert.equal(formatDuration(3_600_000), '1h');
  assert.equal(formatDuration(1500), '1.5s');
  assert.equal(formatDuration(0), '0s');
});
