import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DURATION_BUCKETS, ROW, Tally, type Counts, type ProcessCounts } from '../metrics/index.js';
import { Pool } from '../pool/index.js';
import { ManualClock } from './manual-clock.test.js';
import { bucketBound, percentile, Sampler, type Sample } from './sampler.js';

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

test('each second on the clock, the tally\'s growth becomes rates, error rates and percentiles; retry spikes are told at most every 10 s', async () => {
  const pool = new Pool([{ url: 'http://127.0.0.1:10001', id: 'a' }, { url: 'http://127.0.0.1:10002', id: 'b' }]);
  for (const b of pool.backends) pool.setHealth(b, true);
  const [a, b] = pool.backends;
  const tally = new Tally();
  const process: ProcessCounts = { retries: 0, queued: 0, connections: 3, logLinesDropped: 0 };
  const counts = (): Promise<Counts> => Promise.resolve({ rows: [...tally.entries()], process });
  const serve = (backend: typeof a, n: number, status: number, ms: number): void => {
    for (let i = 0; i < n; i++) tally.record(tally.rowOf(backend!), status, ms / 1000);
  };
  const clock = new ManualClock(1_700_000_000_000);
  const spikes: [number, number][] = [];
  const sampler = new Sampler(pool, counts, { spike: (retries, rps) => spikes.push([retries, rps]) }, clock);
  const samples: Sample[] = [];
  sampler.subscribe((sample) => samples.push(sample));
  serve(a, 50, 200, 5); // before the start: the baseline, in no rate
  sampler.start();
  await new Promise((resolve) => setImmediate(resolve)); // the first sample, taken at once, awaits the counts
  serve(a, 9, 200, 5);
  serve(b, 1, 503, 100);
  await clock.advance(1000);
  assert.equal(samples.length, 1);
  const [first] = samples;
  assert.deepEqual(
    { time: first!.time, rps: first!.rps, errorRate: first!.errorRate, p50: first!.p50, p99: first!.p99, p99Le: first!.p99Le, classes: first!.classes, connections: first!.connections },
    { time: 1_700_000_001_000, rps: 10, errorRate: 0.1, p50: 3.889, p99: 95, p99Le: 100, classes: [0, 9, 0, 0, 1], connections: 3 },
  );
  assert.deepEqual(first!.backends.map((s) => [s.id, s.rps, s.errorRate, s.p50, s.p99]), [['a', 9, 0, 3.75, 4.975], ['b', 1, 1, 75, 99.5]]);
  // Six retries a second: a spike at once, then not again before 10 s have passed.
  for (let s = 0; s < 11; s++) {
    process.retries += 6;
    await clock.advance(1000);
  }
  assert.deepEqual(spikes, [[6, 0], [6, 0]]);
  assert.deepEqual(samples.map((s) => s.retries), [0, ...new Array<number>(11).fill(6)]);
  assert.equal(sampler.history().length, 12);
  sampler.stop();
  assert.equal(clock.ticking, false);
});

test('each sample carries the edge policies\' refusals by policy and route: totals since start-up and the second\'s growth; a shadow limit\'s apart', async () => {
  const pool = new Pool([{ url: 'http://127.0.0.1:10001', id: 'a' }]);
  const process: ProcessCounts = { retries: 0, queued: 0, connections: 0, logLinesDropped: 0 };
  const counts = (): Promise<Counts> => Promise.resolve({ rows: [], process });
  const clock = new ManualClock(1_700_000_000_000);
  const sampler = new Sampler(pool, counts, {}, clock);
  const samples: Sample[] = [];
  sampler.subscribe((sample) => samples.push(sample));
  process.policyRefusals = { 'rate-limit\n': 4 }; // before the start: in the totals, not in a rate
  sampler.start();
  await new Promise((resolve) => setImmediate(resolve));
  await clock.advance(1000);
  assert.deepEqual(samples[0]!.refusals, [{ policy: 'rate-limit', route: '', total: 4, perSecond: 0 }]);
  process.policyRefusals = { 'rate-limit\n': 7, 'access-list\nadmin': 2 };
  process.rateLimitShadow = { api: 5 };
  await clock.advance(1000);
  assert.deepEqual(samples[1]!.refusals, [
    { policy: 'access-list', route: 'admin', total: 2, perSecond: 2 },
    { policy: 'rate-limit', route: '', total: 7, perSecond: 3 },
    { policy: 'rate-limit (shadow)', route: 'api', total: 5, perSecond: 5 },
  ]);
  sampler.stop();
});
