import { test } from 'node:test';
import assert from 'node:assert/strict';
import { healthyPool, strategyContract } from '../strategy-contract.test.js';
import type { Backend } from '../../pool/index.js';
import type { PickRequest } from '../strategy.js';
import { RoundRobin } from './round-robin.js';
import { Sticky } from './sticky.js';

strategyContract('round-robin', () => new Sticky(new RoundRobin(), { cookie: 'lb', secret: 'a-secret-of-16-chars' }));

function client(cookie?: string): PickRequest & { set: string[] } {
  const set: string[] = [];
  return {
    method: 'GET', path: '/', clientIp: '10.0.0.1', headers: cookie === undefined ? {} : { cookie },
    set, addResponseHeader: (name, value) => { assert.equal(name, 'set-cookie'); set.push(value); },
  };
}

function cookieOf(setCookie: string): string {
  return setCookie.slice(0, setCookie.indexOf(';'));
}

test('pins a client to its backend with a signed HttpOnly cookie', () => {
  const pool = healthyPool([1, 1, 1]);
  const sticky = new Sticky(new RoundRobin(), { cookie: 'lb', secret: 'a-secret-of-16-chars' });
  const first = client();
  const chosen = sticky.pick(pool.available, first)!;
  assert.equal(first.set.length, 1);
  assert.match(first.set[0]!, /^lb=[\w-]+\.[\w-]+; Path=\/; HttpOnly; SameSite=Lax$/);
  for (let i = 0; i < 10; i++) {
    const again = client(`other=1; ${cookieOf(first.set[0]!)}`);
    assert.equal(sticky.pick(pool.available, again), chosen, 'the inner rotation is bypassed');
    assert.equal(again.set.length, 0, 'no need to rewrite a valid cookie');
  }
});

test('a forged or foreign cookie is ignored and rewritten', () => {
  const pool = healthyPool([1, 1, 1]);
  const sticky = new Sticky(new RoundRobin(), { cookie: 'lb', secret: 'a-secret-of-16-chars' });
  const other = new Sticky(new RoundRobin(), { cookie: 'lb', secret: 'another-secret-16chars' });
  const target: Backend = pool.backends[2]!;
  const forged = `lb=${other.valueFor(target)}`;
  const tampered = `lb=${sticky.valueFor(target).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))}`;
  for (const cookie of [forged, tampered]) {
    const c = client(cookie);
    sticky.pick(pool.available, c);
    assert.equal(c.set.length, 1, `${cookie}: a new cookie is issued`);
  }
});

test('when the pinned backend is down the inner strategy picks and the cookie is rewritten', () => {
  const pool = healthyPool([1, 1, 1]);
  const sticky = new Sticky(new RoundRobin(), { cookie: 'lb', secret: 'a-secret-of-16-chars' });
  const pinned = pool.backends[1]!;
  const cookie = `lb=${sticky.valueFor(pinned)}`;
  assert.equal(sticky.pick(pool.available, client(cookie)), pinned);
  pool.setHealth(pinned, false, 'test');
  const c = client(cookie);
  const chosen = sticky.pick(pool.available, c)!;
  assert.notEqual(chosen, pinned);
  assert.equal(cookieOf(c.set[0]!), `lb=${sticky.valueFor(chosen)}`);
});
