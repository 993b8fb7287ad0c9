import { test } from 'node:test';
import assert from 'node:assert/strict';
import { realClock } from './clock.js';
import { ManualClock } from './manual-clock.test.js';

test('a manual clock runs each timer as often as the time it is moved by allows, in order, until stopped', async () => {
  const clock = new ManualClock(100);
  const seen: string[] = [];
  const stopA = clock.every(async () => { seen.push(`a@${clock.now()}`); }, 1000);
  clock.every(async () => { seen.push(`b@${clock.now()}`); }, 1500);
  await clock.advance(999);
  assert.deepEqual(seen, []);
  await clock.advance(2001);
  assert.deepEqual(seen, ['a@1100', 'b@1600', 'a@2100', 'a@3100', 'b@3100']);
  assert.equal(clock.now(), 3100);
  stopA();
  await clock.advance(1500);
  assert.deepEqual(seen.slice(5), ['b@4600']);
  assert.equal(clock.ticking, true);
});

test('the real clock reads the clock it is given and its timer can be stopped', () => {
  const clock = realClock(() => 42);
  assert.equal(clock.now(), 42);
  let ticks = 0;
  const stop = clock.every(async () => { ticks++; }, 60_000);
  stop();
  assert.equal(ticks, 0);
});
