import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DURATION_BUCKETS, ROW } from '../metrics/index.js';
import { bucketBound, percentile } from './sampler.js';

function rowWith(counts: Record<number, number>): Float64Array {
  const row = new Float64Array(ROW.length);
  for (const [bucket, n] of Object.entries(counts)) row[ROW.buckets + Number(bucket)] = n;
  return row;
}

test('percentiles interpolate within the histogram bucket that holds the rank, in ms', () => {
  const five = DURATION_BUCKETS.indexOf(0.01); // the bucket (5 ms, 10 ms]
  assert.equal(percentile(rowWith({ [five]: 100 }), 0.5), 7.5);
  assert.equal(percentile(rowWith({ [five]: 100 }), 0.99), 9.95);
  // 90 fast, 10 slow: p50 among the fast, p99 among the slow.
  const fast = DURATION_BUCKETS.indexOf(0.001);
  const slow = DURATION_BUCKETS.indexOf(1); // (0.5 s, 1 s]
  assert.ok(percentile(rowWith({ [fast]: 90, [slow]: 10 }), 0.5) <= 1);
  assert.equal(percentile(rowWith({ [fast]: 90, [slow]: 10 }), 0.99), 950);
  assert.equal(percentile(rowWith({}), 0.99), 0, 'no requests: 0');
  // Past the last bound: the last bound, not infinity.
  assert.equal(percentile(rowWith({ [DURATION_BUCKETS.length]: 5 }), 0.5), 30_000);
});

test('the bucket that holds a percentile: its upper bound in ms, null past the last bound', () => {
  const five = DURATION_BUCKETS.indexOf(0.01); // (5 ms, 10 ms]
  assert.equal(bucketBound(rowWith({ [five]: 100 }), 0.5), 10);
  assert.equal(bucketBound(rowWith({ [five]: 100 }), 0.99), 10);
  const fast = DURATION_BUCKETS.indexOf(0.001);
  const slow = DURATION_BUCKETS.indexOf(1);
  assert.equal(bucketBound(rowWith({ [fast]: 90, [slow]: 10 }), 0.5), 1);
  assert.equal(bucketBound(rowWith({ [fast]: 90, [slow]: 10 }), 0.9), 1, 'the 90th of 100 is the last fast one');
  assert.equal(bucketBound(rowWith({ [fast]: 90, [slow]: 10 }), 0.99), 1000);
  assert.equal(bucketBound(rowWith({ [DURATION_BUCKETS.indexOf(0.0025)]: 4 }), 0.5), 2.5);
  assert.equal(bucketBound(rowWith({}), 0.99), 0, 'no requests: 0');
  assert.equal(bucketBound(rowWith({ [fast]: 1, [DURATION_BUCKETS.length]: 99 }), 0.5), null, 'past the last bound: unknown');
});
