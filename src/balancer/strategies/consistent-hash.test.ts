import { test } from 'node:test';
import assert from 'node:assert/strict';
import { at, healthyPool, strategyContract } from '../strategy-contract.test.js';
import type { IncomingHttpHeaders } from 'node:http';
import { Pool } from '../../pool/index.js';
import type { PickRequest } from '../strategy.js';
import { ConsistentHash } from './consistent-hash.js';
import { RoundRobin } from './round-robin.js';

const make = (options: { hashKey?: string; loadFactor?: number } = {}) =>
  new ConsistentHash({ hashKey: 'header:x-user', ...options, fallbackStrategy: new RoundRobin() });

strategyContract('consistent-hash', () => new ConsistentHash({ hashKey: 'ip', fallbackStrategy: new RoundRobin() }));

function req(headers: IncomingHttpHeaders, path = '/', clientIp = '10.0.0.1'): PickRequest {
  return { method: 'GET', path, headers, clientIp };
}
const users = Array.from({ length: 100_000 }, (_, i) => req({ 'x-user': `user-${i}` }));

test('keys spread within ±5% of fair over 10 backends', () => {
  const pool = healthyPool(Array(10).fill(1));
  const ch = make();
  const counts = Array(10).fill(0);
  for (const r of users) counts[at(pool, ch.pick(pool.available, r))]++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) <= 500, `counts ${counts}`);
});

test('removing 1 of 10 backends remaps only its keys, plus at most 2% others', () => {
  const pool = healthyPool(Array(10).fill(1));
  const ch = make();
  const before = users.map((r) => ch.pick(pool.available, r)!);
  const removed = pool.backends[3]!;
  pool.setHealth(removed, false, 'test');
  let moved = 0;
  users.forEach((r, i) => {
    const now = ch.pick(pool.available, r)!;
    assert.notEqual(now, removed);
    if (before[i] !== removed && now !== before[i]) moved++;
  });
  assert.ok(moved / users.length <= 0.02, `${(100 * moved / users.length).toFixed(2)}% of other keys moved`);
  // And it comes back: the table is rebuilt, the same keys return to it.
  pool.setHealth(removed, true);
  users.forEach((r, i) => assert.equal(ch.pick(pool.available, r), before[i]));
});

test('bounded load keeps every backend at or under c × the mean, even when every request has the same key', () => {
  const pool = healthyPool(Array(5).fill(1));
  const c = 1.25;
  const ch = make({ loadFactor: c });
  const hot = req({ 'x-user': 'celebrity' });
  for (let i = 0; i < 1000; i++) {
    ch.pick(pool.available, hot)!.startRequest();
    const total = pool.backends.reduce((s, b) => s + b.inFlight, 0);
    const bound = Math.ceil((c * total) / pool.backends.length);
    for (const b of pool.backends) assert.ok(b.inFlight <= bound, `backend ${b.id}: ${b.inFlight} > ${bound}`);
  }
  // Without the bound, they would all have gone to one backend.
  const plain = healthyPool(Array(5).fill(1));
  const unbounded = make();
  for (let i = 0; i < 100; i++) unbounded.pick(plain.available, hot)!.startRequest();
  assert.equal(Math.max(...plain.backends.map((b) => b.inFlight)), 100);
});

test('the same key always lands on the same backend; a missing key falls back to round robin', () => {
  const pool = healthyPool([1, 1, 1]);
  const ch = make();
  const first = ch.pick(pool.available, req({ 'x-user': 'alice' }));
  for (let i = 0; i < 10; i++) assert.equal(ch.pick(pool.available, req({ 'x-user': 'alice' })), first);
  const fallback = Array.from({ length: 6 }, () => at(pool, ch.pick(pool.available, req({}))));
  assert.deepEqual(fallback, [0, 1, 2, 0, 1, 2]);
});

test('keys from a cookie, the path (without query) and the client address', () => {
  const pool = healthyPool(Array(8).fill(1));
  const byCookie = make({ hashKey: 'cookie:sid' });
  const a = byCookie.pick(pool.available, req({ cookie: 'theme=dark; sid=abc123; x=1' }));
  assert.equal(byCookie.pick(pool.available, req({ cookie: 'sid=abc123' })), a);
  assert.equal(byCookie.pick(pool.available, req({ cookie: 'xsid=zzz; sid=abc123' })), a, 'matches the whole cookie name');
  const byPath = make({ hashKey: 'path' });
  assert.equal(byPath.pick(pool.available, req({}, '/img/1.png?v=1')), byPath.pick(pool.available, req({}, '/img/1.png?v=2')));
  const byIp = make({ hashKey: 'ip' });
  assert.equal(byIp.pick(pool.available, req({}, '/a', '192.0.2.9')), byIp.pick(pool.available, req({}, '/b', '192.0.2.9')));
  const spread = new Set(Array.from({ length: 200 }, (_, i) => at(pool, byIp.pick(pool.available, req({}, '/', `192.0.2.${i}`)))));
  assert.equal(spread.size, 8);
});

test('an unhealthy pool gives nothing even with a key', () => {
  const pool = new Pool([{ url: 'http://127.0.0.1:1', weight: 1 }]);
  assert.equal(make().pick(pool.available, req({ 'x-user': 'a' })), undefined);
});

test('the same set of backends in another order sends each key to the same backend (balancers that share a pool agree)', () => {
  // Maglev's turn-taking makes a few of the 65,537 slots depend on the order: all 100,000 keys are needed to see it.
  const urls = Array.from({ length: 10 }, (_, i) => `http://10.0.0.${(i * 7) % 10 + 1}:80`);
  const pools = [urls, [...urls].reverse(), [...urls.slice(5), ...urls.slice(0, 5)]].map((list) => {
    const pool = new Pool(list);
    for (const b of pool.backends) pool.setHealth(b, true);
    return pool;
  });
  const picks = pools.map((pool) => {
    const ch = make();
    return users.map((r) => ch.pick(pool.available, r)!.id);
  });
  for (const other of picks.slice(1)) assert.equal(other.filter((id, i) => id !== picks[0]![i]).length, 0);
  assert.equal(new Set(picks[0]).size, 10);
});
