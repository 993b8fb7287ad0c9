import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Director } from './director.js';
import { seededRandom } from './random.js';
import { mergeShadows, quantileMs, Shadows, summarizeShadows, type ShadowImage } from './shadow.js';
import { PeakEwma } from './strategies/peak-ewma.js';
import { RoundRobin } from './strategies/round-robin.js';
import { fakeRequest, healthyPool } from './strategy-contract.test.js';

/** Upper bounds (ms) of the shadow histogram's buckets that hold 1 ms, 100 ms and 200 ms. */
const FAST_MS = 1;
const SLOW_MS = 100;
const SLOWER_MS = 223.872;

/**
 * Three backends answering in 1, 100 and 200 ms, a live round robin and the shadows: each request
 * is placed live, shown to the shadows, and its answer's time fed back to the chosen backend as
 * the proxy does, on a clock that advances 10 ms a request. No backend runs; nothing waits.
 */
function run(requests: number, offset = 0, seed = 7): ShadowImage {
  const pool = healthyPool([1, 1, 1]);
  const delays = [1, 100, 200];
  let now = 1000;
  const options = { offset, random: seededRandom(seed), now: () => now };
  const director = new Director(pool, new RoundRobin(options));
  const shadows = new Shadows([new PeakEwma(options), new RoundRobin(options)], () => director.strategy.name);
  for (let i = 0; i < requests; i++) {
    const request = fakeRequest(i);
    const chosen = director.pick(request)!;
    shadows.observe(pool.available, request, chosen);
    now += 10;
    chosen.observeLatency(delays[pool.backends.indexOf(chosen)]!, now);
  }
  return shadows.image();
}

test('a shadow round robin agrees with a live one; peak-EWMA disagrees and predicts lower latency', () => {
  const summary = summarizeShadows(run(60));
  assert.deepEqual(summary.live, { strategy: 'round-robin', decisions: 60, p50Ms: SLOW_MS, p99Ms: SLOWER_MS });
  const [ewma, rr] = summary.shadows;
  assert.deepEqual([ewma!.strategy, rr!.strategy], ['peak-ewma', 'round-robin']);
  assert.equal(ewma!.decisions, 60);
  // The shadow round robin keeps its own position, in step with the live one.
  assert.deepEqual(rr, { strategy: 'round-robin', decisions: 60, agreement: 1, p50Ms: summary.live.p50Ms, p99Ms: summary.live.p99Ms });
  // Peak-EWMA sends most requests to the fast backend, the rest to the slow one, never the slowest.
  assert.ok(ewma!.agreement < 0.7, `peak-ewma agreed on ${ewma!.agreement}`);
  assert.equal(ewma!.p50Ms, FAST_MS);
  assert.equal(ewma!.p99Ms, SLOW_MS);
  assert.ok(ewma!.p50Ms < summary.live.p50Ms && ewma!.p99Ms < summary.live.p99Ms);
});

test('the live choice\'s prediction includes the slowest backend; before any answer a prediction is 0', () => {
  const image = run(3);
  // The first three requests go to backends with no answer yet.
  assert.deepEqual(summarizeShadows(image).live, { strategy: 'round-robin', decisions: 3, p50Ms: 0.001, p99Ms: 0.001 });
  const later = summarizeShadows(run(61));
  assert.ok(later.live.p99Ms >= 200, `live p99 ${later.live.p99Ms} ms`);
});

test('each worker\'s round robins start at its offset, so the shadow stays in step; the images add up', () => {
  const workers = [run(60, 0, 7), run(60, 1, 8)];
  for (const image of workers) assert.equal(summarizeShadows(image).shadows[1]!.agreement, 1);
  const merged = summarizeShadows(mergeShadows(workers)!);
  assert.equal(merged.live.strategy, 'round-robin');
  assert.equal(merged.live.decisions, 120);
  assert.deepEqual(merged.shadows.map((s) => [s.strategy, s.decisions]), [['peak-ewma', 120], ['round-robin', 120]]);
  assert.equal(merged.shadows[1]!.agreement, 1);
  const ewma = workers.map((image) => image.shadows[0]!);
  assert.equal(merged.shadows[0]!.agreement, Math.round(((ewma[0]!.agreements + ewma[1]!.agreements) / 120) * 10_000) / 10_000);
  assert.equal(mergeShadows([]), undefined);
});

test('a shadow that finds nothing to pick makes no decision', () => {
  const pool = healthyPool([1]);
  const shadows = new Shadows([{ name: 'none', pick: () => undefined }], () => 'round-robin');
  shadows.observe(pool.available, fakeRequest(), pool.backends[0]!);
  const summary = summarizeShadows(shadows.image());
  assert.equal(summary.live.decisions, 1);
  assert.deepEqual(summary.shadows, [{ strategy: 'none', decisions: 0, agreement: 0, p50Ms: 0, p99Ms: 0 }]);
});

test('quantiles of the predicted latency are bucket bounds, 20 a decade', () => {
  const counts = new Array<number>(161).fill(0);
  assert.equal(quantileMs(counts, 0.5), 0);
  counts[60] = 99; // 1 ms
  counts[100] = 1; // 100 ms
  assert.equal(quantileMs(counts, 0.5), 1);
  assert.equal(quantileMs(counts, 0.99), 1);
  assert.equal(quantileMs(counts, 1), 100);
});
