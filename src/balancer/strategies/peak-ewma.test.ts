import { test } from 'node:test';
import assert from 'node:assert/strict';
import { at, healthyPool, strategyContract } from '../strategy-contract.test.js';
import { seededRandom } from '../random.js';
import { PeakEwma } from './peak-ewma.js';

strategyContract('peak-ewma', () => new PeakEwma({ random: seededRandom(5), now: () => 0 }));

test('avoids a backend whose responses are slow, and returns as its estimate decays', () => {
  let now = 1000;
  const pool = healthyPool([1, 1, 1]);
  const ewma = new PeakEwma({ random: seededRandom(9), now: () => now });
  const [slow, fast1, fast2] = pool.backends;
  slow!.observeLatency(500, now);
  fast1!.observeLatency(5, now);
  fast2!.observeLatency(6, now);
  const counts = [0, 0, 0];
  for (let i = 0; i < 3000; i++) counts[at(pool, ewma.pick(pool.available))]!++;
  assert.equal(counts[0], 0, `the slow backend is never cheaper: ${counts}`);
  // One fast sample no longer drags the peak down at once ...
  slow!.observeLatency(5, now + 1);
  assert.ok(slow!.latency > 400);
  // ... but after two minutes of 5 ms answers the estimate has decayed and traffic returns.
  for (let t = 0; t < 120; t++) { now += 1000; slow!.observeLatency(5, now); fast1!.observeLatency(5, now); fast2!.observeLatency(6, now); }
  counts.fill(0);
  for (let i = 0; i < 3000; i++) counts[at(pool, ewma.pick(pool.available))]!++;
  assert.ok(counts[0]! > 500, `traffic returns: ${counts}`);
});

test('a slow sample raises the estimate at once (peak), a fast one blends in', () => {
  const pool = healthyPool([1]);
  const b = pool.backends[0]!;
  b.observeLatency(10, 0);
  b.observeLatency(100, 100);
  assert.equal(b.latency, 100);
  b.observeLatency(10, 10_100); // Δt = τ: weight 1/e on the old value
  assert.ok(Math.abs(b.latency - (100 / Math.E + 10 * (1 - 1 / Math.E))) < 1e-9);
});
