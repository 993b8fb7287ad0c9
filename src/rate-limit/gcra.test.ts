import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gcra } from './gcra.js';
import { defaultBurst, parseRate } from './rate.js';

/** Takes `n` requests for `key` at `now`; how many were admitted. */
function takeMany(g: Gcra, key: string, now: number, n: number): number {
  let admitted = 0;
  for (let i = 0; i < n; i++) if (g.take(key, now) >= 0) admitted++;
  return admitted;
}

test('a burst is admitted at once, the next request refused until one interval has passed', () => {
  const g = new Gcra(10, 1000, 5, 100); // 10/s: one every 100 ms, 5 at once
  assert.deepEqual([0, 1, 2, 3, 4].map(() => g.take('a', 0)), [4, 3, 2, 1, 0], 'what is left of the burst after each');
  const refused = g.take('a', 0);
  assert.ok(refused < 0);
  assert.equal(-refused, 100, 'one interval until the next is admitted');
  assert.ok(g.take('a', 99) < 0, 'still refused 1 ms early');
  assert.equal(g.take('a', 100), 0, 'admitted on time, nothing left');
  assert.equal(g.resetIn('a', 100), 500, 'the whole burst back after five intervals');
  assert.equal(takeMany(g, 'b', 0, 10), 5, 'each key has its own burst');
});

test('at a steady rate every request is admitted; faster, only the rate is', () => {
  const g = new Gcra(100, 1000, 1, 10); // 100/s: one every 10 ms, no burst beyond one
  let admitted = 0;
  for (let t = 0; t < 10_000; t += 10) if (g.take('k', t) >= 0) admitted++;
  assert.equal(admitted, 1000, 'one every 10 ms for 10 s');
  const fast = new Gcra(100, 1000, 1, 10);
  admitted = 0;
  for (let t = 0; t < 10_000; t += 5) if (fast.take('k', t) >= 0) admitted++;
  assert.equal(admitted, 1000, 'twice as fast: half refused, the rate still admitted');
});

test('a refused request does not move the key on: refusals cost the client nothing later', () => {
  const g = new Gcra(1, 1000, 1, 10);
  assert.equal(g.take('k', 0), 0);
  for (let i = 0; i < 100; i++) assert.ok(g.take('k', 500) < 0);
  assert.equal(g.take('k', 1000), 0, 'admitted once the interval has passed, however many were refused');
});

test('Retry-After material: the wait until the next admitted request, for slow rates too', () => {
  const g = new Gcra(6, 60_000, 2, 10); // 6/m: one every 10 s, 2 at once
  assert.equal(takeMany(g, 'k', 0, 2), 2);
  assert.equal(-g.take('k', 0), 10_000);
  assert.equal(-g.take('k', 2500), 7500);
});

test('the key table keeps at most its size, forgetting the least recently used key', () => {
  const g = new Gcra(1, 3_600_000, 1, 3);
  for (const k of ['a', 'b', 'c']) assert.equal(g.take(k, 0), 0);
  assert.ok(g.take('a', 1) < 0, 'a is at its limit (and refused: a refusal does not refresh it)');
  assert.equal(g.take('d', 2), 0, 'd is new: a, the least recently admitted, is forgotten');
  assert.equal(g.size, 3);
  assert.equal(g.evicted, 1);
  assert.equal(g.take('a', 3), 0, 'a forgotten comes back with its whole burst');
  assert.ok(g.take('c', 4) < 0, 'c was kept');
  assert.equal(g.size, 3);
  for (let i = 0; i < 1000; i++) g.take(`k${i}`, 5);
  assert.equal(g.size, 3, 'bounded under many distinct keys');
});

test('rates: N/s, N/m and N/h; anything else is refused; the default burst is one second of the rate', () => {
  assert.deepEqual(parseRate('100/s'), { count: 100, period: 1000, text: '100/s' });
  assert.deepEqual(parseRate(' 6000 / m '), { count: 6000, period: 60_000, text: '6000/m' });
  assert.deepEqual(parseRate('50/h'), { count: 50, period: 3_600_000, text: '50/h' });
  for (const bad of ['0/s', '10/ms', '1.5/s', '100', '/s', '-1/s', 'ten/s', 10]) assert.throws(() => parseRate(bad), /a rate such as/, String(bad));
  assert.equal(defaultBurst(parseRate('100/s')), 100);
  assert.equal(defaultBurst(parseRate('6000/m')), 100);
  assert.equal(defaultBurst(parseRate('90/m')), 2);
  assert.equal(defaultBurst(parseRate('50/h')), 1);
});
