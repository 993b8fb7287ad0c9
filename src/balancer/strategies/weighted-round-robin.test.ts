import { test } from 'node:test';
import assert from 'node:assert/strict';
import { at, healthyPool, strategyContract } from '../strategy-contract.test.js';
import { WeightedRoundRobin } from './weighted-round-robin.js';

strategyContract('weighted-round-robin', () => new WeightedRoundRobin());

test('weights 5,1,1 give nginx\'s smooth sequence a,a,b,a,c,a,a', () => {
  const pool = healthyPool([5, 1, 1]);
  const wrr = new WeightedRoundRobin();
  const names = 'abc';
  const seq = Array.from({ length: 14 }, () => names[at(pool, wrr.pick(pool.available))]).join('');
  assert.equal(seq, 'aabacaa'.repeat(2));
});

test('exact proportions over every full cycle', () => {
  const weights = [3, 7, 1, 4, 5];
  const pool = healthyPool(weights);
  const wrr = new WeightedRoundRobin();
  const cycle = weights.reduce((a, b) => a + b);
  for (let round = 0; round < 5; round++) {
    const counts = weights.map(() => 0);
    for (let i = 0; i < cycle; i++) counts[at(pool, wrr.pick(pool.available))]!++;
    assert.deepEqual(counts, weights);
  }
});

test('equal weights degrade to plain rotation', () => {
  const pool = healthyPool([2, 2, 2]);
  const wrr = new WeightedRoundRobin();
  assert.deepEqual(Array.from({ length: 6 }, () => at(pool, wrr.pick(pool.available))), [0, 1, 2, 0, 1, 2]);
});
