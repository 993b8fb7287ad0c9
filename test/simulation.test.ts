// @engine-independent: an in-process simulation of the strategies; no balancer process, no engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SIMULATION, SIMULATED, simulate } from '../bench/simulation.js';

const options = { ...DEFAULT_SIMULATION, requests: 30_000 };
const byName = (label: string) => simulate(SIMULATED.find((s) => s.label === label)!, options);

test('the simulation is deterministic', () => {
  assert.deepEqual(byName('power-of-two-choices'), byName('power-of-two-choices'));
});

test('with one backend 10× slower, peak-EWMA and power-of-two-choices beat round robin\'s p99', () => {
  const rr = byName('round-robin');
  const p2c = byName('power-of-two-choices');
  const ewma = byName('peak-ewma');
  assert.ok(p2c.p99 < rr.p99, `p2c ${p2c.p99} vs rr ${rr.p99}`);
  assert.ok(ewma.p99 < rr.p99, `ewma ${ewma.p99} vs rr ${rr.p99}`);
  assert.ok(ewma.share[4]! < 0.05 && p2c.share[4]! < 0.05, 'the slow backend gets little traffic');
  assert.ok(Math.abs(rr.share[4]! - 0.2) < 0.001, 'round robin gives it a full fifth');
});
