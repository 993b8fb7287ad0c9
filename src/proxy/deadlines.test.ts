import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineQueue, type Deadline } from './deadlines.js';

function entry(name: string, inMs: number, fired: string[], onExpire?: () => void): Deadline {
  return {
    deadline: performance.now() + inMs, prevDeadline: undefined, nextDeadline: undefined, queued: false,
    expire() { fired.push(name); onExpire?.(); },
  };
}

function whenFired(fired: string[], count: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => { if (fired.length >= count) resolve(); else setImmediate(check); };
    check();
  });
}

test('entries expire in order, not before their deadline; removed ones never do', async () => {
  const queue = new DeadlineQueue();
  const fired: string[] = [];
  const started = performance.now();
  const a = entry('a', 30, fired);
  const b = entry('b', 40, fired);
  const c = entry('c', 50, fired);
  const d = entry('d', 60, fired);
  for (const e of [a, b, c, d]) queue.add(e);
  assert.equal(queue.size, 4);
  queue.remove(b); // from the middle
  queue.remove(a); // the head, which the timer is armed for
  queue.remove(a); // twice: ignored
  assert.equal(queue.size, 2);
  await whenFired(fired, 2);
  assert.ok(performance.now() - started >= 50, 'c expired no earlier than its deadline');
  assert.deepEqual(fired, ['c', 'd']);
  assert.equal(queue.size, 0);
  assert.equal(c.queued, false);
});

test('an entry removed after expiring and entries added while expiring are handled', async () => {
  const queue = new DeadlineQueue();
  const fired: string[] = [];
  const late = entry('late', 40, fired);
  // Expiring `first` adds a new entry and removes another (the proxy's timeout answers the client, which ends other work).
  const first = entry('first', 10, fired, () => {
    queue.add(entry('added', 20, fired));
    queue.remove(late);
  });
  queue.add(first);
  queue.add(late);
  await whenFired(fired, 2);
  assert.deepEqual(fired, ['first', 'added']);
  queue.remove(first); // already gone: ignored
  assert.equal(queue.size, 0);
});

test('a queue emptied and refilled arms again', async () => {
  const queue = new DeadlineQueue();
  const fired: string[] = [];
  const x = entry('x', 5, fired);
  queue.add(x);
  queue.remove(x);
  await new Promise((r) => setTimeout(r, 15)); // the timer fires with nothing due
  queue.add(entry('y', 5, fired));
  await whenFired(fired, 1);
  assert.deepEqual(fired, ['y']);
});

test('after the duration is shortened (a reload), a later entry with an earlier deadline expires first, and the timer follows it', async () => {
  const queue = new DeadlineQueue();
  const fired: string[] = [];
  const long = entry('long', 60_000, fired);
  const middle = entry('middle', 30_000, fired);
  queue.add(long);
  queue.add(middle); // walked back past `long`
  assert.equal(queue.first, middle);
  const short = entry('short', 20, fired);
  queue.add(short); // a new head: the timer, armed for a minute, is re-armed
  assert.equal(queue.first, short);
  await whenFired(fired, 1);
  assert.deepEqual(fired, ['short']);
  queue.remove(long);
  queue.remove(middle);
  assert.equal(queue.size, 0);
});
