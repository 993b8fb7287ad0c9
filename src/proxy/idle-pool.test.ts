import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdleKeeper, IdleList, type Keepable } from './idle-pool.js';

/** A connection that records its closing. */
class Conn implements Keepable {
  idleSince = 0;
  idleTicks = Number.POSITIVE_INFINITY;
  closed = false;
  constructor(readonly name: string) {}
}

function list(keeper: IdleKeeper, maxIdle: number): IdleList<Conn> {
  return new IdleList<Conn>(keeper, maxIdle, (c) => { c.closed = true; });
}

test('the most recently used connection is taken first; the least recently used closes first', () => {
  const keeper = new IdleKeeper(100, 60_000);
  const idle = list(keeper, 1);
  const [a, b, c] = [new Conn('a'), new Conn('b'), new Conn('c')];
  idle.put(a); idle.put(b); idle.put(c);
  assert.equal(idle.take(), c);
  idle.put(c);
  keeper.trim(); // the tick in which all three were handed back: none was idle all along
  assert.equal(idle.size, 3);
  keeper.trim();
  assert.deepEqual([a.closed, b.closed, c.closed], [true, true, false]);
  keeper.stop();
});

test('HTTP_IDLE_CONN_TIMEOUT closes what stayed idle that many ticks, and a Keep-Alive hint is honoured on take', () => {
  const keeper = new IdleKeeper(100, 2000);
  const idle = list(keeper, 10);
  const old = new Conn('old');
  idle.put(old);
  keeper.trim();
  const hinted = new Conn('hinted');
  hinted.idleTicks = 1;
  idle.put(hinted);
  keeper.trim();
  assert.equal(old.closed, false, 'idle since tick 1, now tick 3: not a whole two ticks yet');
  keeper.trim();
  assert.equal(old.closed, true, 'two whole ticks idle: the timeout');
  assert.equal(idle.take(), undefined, 'the hinted one is past its backend\'s keep-alive: closed, not used');
  assert.equal(hinted.closed, true);
  keeper.stop();
});

test('HTTP_MAX_IDLE_CONNS closes the connections idle longest over all backends, not one backend\'s first', () => {
  const keeper = new IdleKeeper(2, 60_000);
  const first = list(keeper, 10);
  const second = list(keeper, 10);
  const a1 = new Conn('a1');
  first.put(a1);
  keeper.trim();
  const b1 = new Conn('b1');
  const b2 = new Conn('b2');
  second.put(b1);
  second.put(b2);
  const a2 = new Conn('a2');
  first.put(a2);
  keeper.trim(); // only a1 has been idle since before the last tick
  assert.deepEqual([a1.closed, a2.closed, b1.closed, b2.closed], [true, false, false, false]);
  keeper.trim();
  assert.equal(first.size + second.size, 2);
  keeper.stop();
});

test('a connection bound to a key (the PROXY header it opened with) is taken only for that key; an unbound request never takes it', () => {
  const keeper = new IdleKeeper(100, 60_000);
  const idle = list(keeper, 10);
  const keyed = (name: string, reuseKey: string): Conn => Object.assign(new Conn(name), { reuseKey });
  const [alice1, plain, bob, alice2] = [keyed('alice-1', 'alice'), new Conn('plain'), keyed('bob', 'bob'), keyed('alice-2', 'alice')];
  idle.put(alice1); idle.put(plain); idle.put(bob); idle.put(alice2);
  assert.equal(idle.take('carol'), undefined);
  assert.equal(idle.take('alice'), alice2, 'the most recently used of that key');
  assert.equal(idle.take(), plain, 'an unbound request takes an unbound one, past the bound ones');
  assert.equal(idle.take(), undefined);
  assert.equal(idle.take('alice'), alice1);
  assert.equal(idle.take('bob'), bob);
  assert.equal(idle.size, 0);
  keeper.stop();
});
