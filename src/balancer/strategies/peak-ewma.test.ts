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

test('one stalled answer puts a fast backend above a slow one until enough fast answers have decayed the peak', () => {
  let now = 0;
  const pool = healthyPool([1, 1]);
  const ewma = new PeakEwma({ random: seededRandom(3), now: () => now });
  const [fast, slow] = pool.backends;
  fast!.observeLatency(1, now);
  slow!.observeLatency(100, now);
  assert.equal(ewma.pick(pool.available), fast);
  // A first answer on a new connection, stalled on a busy machine: the estimate jumps to it.
  now += 1000;
  fast!.observeLatency(150, now);
  slow!.observeLatency(100, now);
  assert.equal(ewma.pick(pool.available), slow);
  // Then one 1 ms answer a second: 150·e^(-k/10) + 1·(1 - e^(-k/10)) falls below 100 at the fifth.
  const picks: string[] = [];
  for (let k = 1; k <= 6; k++) {
    now += 1000;
    fast!.observeLatency(1, now);
    slow!.observeLatency(100, now);
    picks.push(ewma.pick(pool.available) === fast ? 'fast' : 'slow');
  }
  assert.deepEqual(picks, ['slow', 'slow', 'slow', 'slow', 'fast', 'fast']);
});

test('without an injected clock, estimates are read at the time of the latest response of any backend', () => {
  // latencyClock only moves forward and is shared: start far past anything another test fed it.
  const start = 1e12;
  const pool = healthyPool([1, 1]);
  const ewma = new PeakEwma({ random: seededRandom(4) });
  const [a, b] = pool.backends;
  a!.observeLatency(500, start);
  b!.observeLatency(5, start);
  for (let i = 0; i < 100; i++) assert.equal(ewma.pick(pool.available), b);
  // A minute later b answers again; a has not been heard from, and its peak has decayed to 500·e^-6 ≈ 1.2 ms.
  b!.observeLatency(5, start + 60_000);
  for (let i = 0; i < 100; i++) assert.equal(ewma.pick(pool.available), a);
});

test('requests in flight multiply the cost; a backend in flight without a sample yet is avoided', () => {
  const now = 1000;
  const pool = healthyPool([1, 1]);
  const ewma = new PeakEwma({ random: seededRandom(6), now: () => now });
  const [a, b] = pool.backends;
  a!.observeLatency(10, now);
  b!.observeLatency(30, now);
  assert.equal(ewma.pick(pool.available), a);
  for (let i = 0; i < 3; i++) a!.startRequest(); // 10 × 4 > 30 × 1
  assert.equal(ewma.pick(pool.available), b);
  const fresh = healthyPool([1, 1]);
  fresh.backends[0]!.startRequest();
  fresh.backends[1]!.observeLatency(1000, now);
  assert.equal(ewma.pick(fresh.available), fresh.backends[1], 'no sample yet but busy: Finagle\'s penalty');
});
