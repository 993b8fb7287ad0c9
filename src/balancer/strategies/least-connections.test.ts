import { test } from 'node:test';
import assert from 'node:assert/strict';
import { at, healthyPool, strategyContract } from '../strategy-contract.test.js';
import { LeastConnections } from './least-connections.js';

strategyContract('least-connections', () => new LeastConnections());

test('new requests go away from a backend holding long requests', () => {
  const pool = healthyPool([1, 1, 1]);
  const lc = new LeastConnections();
  const [a, b, c] = pool.backends;
  a!.setInFlight(10); // long requests pile up on a
  const picks = Array.from({ length: 20 }, () => {
    const chosen = lc.pick(pool.available)!;
    chosen.startRequest();
    return chosen;
  });
  assert.equal(picks.filter((p) => p === a).length, 0);
  assert.equal(b!.inFlight, 10);
  assert.equal(c!.inFlight, 10);
});

test('ties rotate instead of piling onto the first backend', () => {
  const pool = healthyPool([1, 1, 1]);
  const lc = new LeastConnections();
  assert.deepEqual(Array.from({ length: 6 }, () => at(pool, lc.pick(pool.available))), [0, 1, 2, 0, 1, 2]);
});

test('weights count: in-flight / weight', () => {
  const pool = healthyPool([3, 1]);
  const lc = new LeastConnections();
  const counts = [0, 0];
  for (let i = 0; i < 400; i++) {
    const chosen = lc.pick(pool.available)!;
    chosen.startRequest(); // none finish: the split follows the weights
    counts[at(pool, chosen)]!++;
  }
  assert.deepEqual(counts, [300, 100]);
});
