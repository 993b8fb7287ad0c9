import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from '../../pool/index.js';
import { strategyContract, at } from '../strategy-contract.test.js';
import { RoundRobin } from './round-robin.js';

strategyContract('round-robin', () => new RoundRobin());

function healthyPool(n: number): Pool {
  const pool = new Pool(Array.from({ length: n }, (_, i) => ({ url: `http://127.0.0.1:${9100 + i}`, weight: 1 })));
  for (const b of pool.backends) pool.setHealth(b, true);
  return pool;
}

test('rotates 0,1,2,0,1,2 and splits exactly evenly', () => {
  const pool = healthyPool(3);
  const rr = new RoundRobin();
  const order = Array.from({ length: 6 }, () => at(pool, rr.pick(pool.available)));
  assert.deepEqual(order, [0, 1, 2, 0, 1, 2]);
  const counts = [0, 0, 0];
  for (let i = 0; i < 300; i++) counts[at(pool, rr.pick(pool.available))]!++;
  assert.deepEqual(counts, [100, 100, 100]);
});

test('starts at its offset, so workers interleave', () => {
  const pool = healthyPool(3);
  assert.equal(at(pool, new RoundRobin({ offset: 1 }).pick(pool.available)), 1);
  assert.equal(at(pool, new RoundRobin({ offset: 5 }).pick(pool.available)), 2);
});

test('wraps its counter after 2^30 picks and keeps rotating', () => {
  const pool = healthyPool(3);
  const rr = new RoundRobin({ offset: 0x3fffffff - 1 });
  const seq = Array.from({ length: 4 }, () => at(pool, rr.pick(pool.available)));
  // 0x3fffffff - 1 ≡ 2 (mod 3), 0x3fffffff ≡ 0, then the wrap to 0: one repeat per 2^30 picks.
  assert.deepEqual(seq, [2, 0, 0, 1]);
});

test('weights that differ are honoured, interleaved as smooth weighted round robin: 5,1,1 gives a,a,b,a,c,a,a', () => {
  const pool = weightedPool([5, 1, 1]);
  const rr = new RoundRobin();
  assert.deepEqual(Array.from({ length: 7 }, () => at(pool, rr.pick(pool.available))), [0, 0, 1, 0, 2, 0, 0]);
  const counts = [0, 0, 0];
  for (let i = 0; i < 700; i++) counts[at(pool, rr.pick(pool.available))]!++;
  assert.deepEqual(counts, [500, 100, 100]);
});

test('equal weights other than 1 rotate plainly; a weight changed at runtime takes effect at once', () => {
  const pool = weightedPool([3, 3, 3]);
  const rr = new RoundRobin();
  assert.deepEqual(Array.from({ length: 6 }, () => at(pool, rr.pick(pool.available))), [0, 1, 2, 0, 1, 2]);
  pool.setWeight(pool.backends[2]!.id, 6);
  const counts = [0, 0, 0];
  for (let i = 0; i < 1200; i++) counts[at(pool, rr.pick(pool.available))]!++;
  assert.deepEqual(counts, [300, 300, 600]);
  // Excluded backends sit a weighted pick out, too.
  const exclude = new Set([pool.backends[2]!]);
  for (let i = 0; i < 10; i++) assert.notEqual(at(pool, rr.pick(pool.available, undefined, exclude)), 2);
});

function weightedPool(weights: number[]): Pool {
  const pool = new Pool(weights.map((weight, i) => ({ url: `http://127.0.0.1:${9200 + i}`, weight })));
  for (const b of pool.backends) pool.setHealth(b, true);
  return pool;
}
