import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sweep, type Sweepable } from './sweep.js';

class Entry implements Sweepable {
  swept = false;
  prevSwept: Sweepable | undefined = undefined;
  nextSwept: Sweepable | undefined = undefined;
  visits = 0;
  constructor(readonly name: string, readonly onSweep: (self: Entry) => void = () => undefined) {}
  sweep(): void {
    this.visits++;
    this.onSweep(this);
  }
}

test('a tick visits every entry once, in order, while entries leave (themselves or the next one) and join', async () => {
  const sweep = new Sweep(1);
  const order: string[] = [];
  let reached: () => void = () => undefined;
  const lateVisited = new Promise<void>((resolve) => { reached = resolve; });
  const late = new Entry('late', (e) => { order.push(e.name); reached(); });
  const c = new Entry('c', (e) => order.push(e.name));
  const b = new Entry('b', (e) => { order.push(e.name); sweep.delete(e); sweep.delete(c); });
  const a = new Entry('a', (e) => order.push(e.name));
  const d = new Entry('d', (e) => { order.push(e.name); sweep.add(late); });
  for (const e of [a, b, c, d]) sweep.add(e);
  sweep.add(a); // already in: nothing changes
  assert.equal(sweep.size, 4);
  await lateVisited;
  assert.deepEqual(order.slice(0, 4), ['a', 'b', 'd', 'late'], 'c left before its turn; late joined at the end and was reached');
  assert.equal(sweep.size, 3);
  for (const e of [a, d, late]) sweep.delete(e);
  sweep.delete(a); // already out: nothing changes
  assert.equal(sweep.size, 0);
  assert.equal(c.visits, 0);
  assert.ok(a.prevSwept === undefined && a.nextSwept === undefined && !a.swept);
});
