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

test('a worker\'s offset starts it that many picks into the schedule, as round robin does', () => {
  const pool = healthyPool([5, 1, 1]);
  const names = 'abc';
  const sequence = (offset: number): string => {
    const wrr = new WeightedRoundRobin({ offset });
    return Array.from({ length: 7 }, () => names[at(pool, wrr.pick(pool.available))]).join('');
  };
  assert.equal(sequence(0), 'aabacaa');
  assert.equal(sequence(1), 'abacaaa', 'one pick into the cycle');
  assert.equal(sequence(2), 'bacaaaa', 'two picks into the cycle');
});

test('excluded backends sit the pick out: the others keep their proportions', () => {
  const pool = healthyPool([3, 1, 1]);
  const wrr = new WeightedRoundRobin();
  const exclude = new Set([pool.backends[0]!]);
  const counts = [0, 0, 0];
  for (let i = 0; i < 100; i++) counts[at(pool, wrr.pick(pool.available, undefined, exclude))]!++;
  assert.deepEqual(counts, [0, 50, 50]);
});
