import { test } from 'node:test';
import assert from 'node:assert/strict';
import { at, healthyPool, strategyContract } from '../strategy-contract.test.js';
import { seededRandom } from '../random.js';
import { PowerOfTwoChoices } from './power-of-two-choices.js';
import { RandomChoice } from './random.js';

strategyContract('random', () => new RandomChoice({ random: seededRandom(1) }));
strategyContract('power-of-two-choices', () => new PowerOfTwoChoices({ random: seededRandom(2) }));

test('random spreads evenly (seeded, so exact)', () => {
  const pool = healthyPool([1, 1, 1, 1]);
  const r = new RandomChoice({ random: seededRandom(42) });
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 40_000; i++) counts[at(pool, r.pick(pool.available))]!++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 400, `counts ${counts}`);
});

test('power-of-two-choices never picks the more loaded of its two candidates', () => {
  const pool = healthyPool([1, 1]);
  const p2c = new PowerOfTwoChoices({ random: seededRandom(7) });
  pool.backends[0]!.setInFlight(5);
  for (let i = 0; i < 100; i++) assert.equal(p2c.pick(pool.available), pool.backends[1]);
});

test('power-of-two-choices keeps load balanced when requests never finish', () => {
  const pool = healthyPool([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  const p2c = new PowerOfTwoChoices({ random: seededRandom(3) });
  for (let i = 0; i < 10_000; i++) p2c.pick(pool.available)!.startRequest();
  const loads = pool.backends.map((b) => b.inFlight);
  assert.ok(Math.max(...loads) - Math.min(...loads) <= 4, `loads ${loads}`); // pure random: spread of ~±100
});

test('random honours weights that differ (seeded, so exact enough): 1,3 gives about a quarter and three quarters', () => {
  const pool = healthyPool([1, 3]);
  const r = new RandomChoice({ random: seededRandom(42) });
  const counts = [0, 0];
  for (let i = 0; i < 40_000; i++) counts[at(pool, r.pick(pool.available))]!++;
  assert.ok(Math.abs(counts[0]! - 10_000) < 400 && Math.abs(counts[1]! - 30_000) < 400, `counts ${counts}`);
  // A retry draws among the rest by weight too.
  const three = healthyPool([1, 3, 6]);
  const exclude = new Set([three.backends[2]!]);
  const retries = [0, 0, 0];
  for (let i = 0; i < 40_000; i++) retries[at(three, r.pick(three.available, undefined, exclude))]!++;
  assert.equal(retries[2], 0);
  assert.ok(Math.abs(retries[0]! - 10_000) < 400, `retries ${retries}`);
});
