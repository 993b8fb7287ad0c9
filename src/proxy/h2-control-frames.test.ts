import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ControlFrameBudget } from './h2-control-frames.js';

test('the control-frame budget lets a burst through, then refuses until time refills it at its rate', () => {
  let now = 0;
  const budget = new ControlFrameBudget(() => now, 5, 10);
  for (let i = 0; i < 5; i++) assert.equal(budget.take(), true, `frame ${i + 1} of the burst`);
  assert.equal(budget.take(), false, 'the sixth at once');
  now += 100; // 10 a second: one token back
  assert.equal(budget.take(), true);
  assert.equal(budget.take(), false);
  now += 60_000; // a long pause refills the burst, no more
  for (let i = 0; i < 5; i++) assert.equal(budget.take(), true);
  assert.equal(budget.take(), false);
});

test('a peer that stays under the rate is never refused', () => {
  let now = 0;
  const budget = new ControlFrameBudget(() => now, 5, 10);
  for (let i = 0; i < 1000; i++) {
    now += 100;
    assert.equal(budget.take(), true, `frame ${i + 1}`);
  }
});

test('each stream the peer opens earns one token back, up to the burst', () => {
  let now = 0;
  const budget = new ControlFrameBudget(() => now, 3, 1);
  for (let i = 0; i < 3; i++) assert.equal(budget.take(), true);
  assert.equal(budget.take(), false);
  budget.earn();
  assert.equal(budget.take(), true);
  assert.equal(budget.take(), false);
  for (let i = 0; i < 10; i++) budget.earn();
  for (let i = 0; i < 3; i++) assert.equal(budget.take(), true);
  assert.equal(budget.take(), false);
});
