/**
 * The behaviour every strategy must show, shared by the strategies' test files (a `.test.ts`
 * file so that the build keeps it out of the package). A new strategy gets the same checks by
 * calling `strategyContract('<name>', () => new MyStrategy())` from its own test file.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Pool, type Backend } from '../pool/index.js';
import { Director } from './director.js';
import { strategyNames } from './registry.js';
import type { PickRequest, Strategy } from './strategy.js';

/** A request for contract tests; `i` varies the client address and path. */
export function fakeRequest(i = 0): PickRequest {
  return { method: 'GET', path: `/item/${i}`, headers: { host: 'example.test' }, clientIp: `10.0.${(i >> 8) & 255}.${i & 255}` };
}

/** A pool of `weights.length` healthy backends on 127.0.0.1 with the given weights. */
export function healthyPool(weights: readonly number[]): Pool {
  const pool = new Pool(weights.map((weight, i) => ({ url: `http://127.0.0.1:${10_000 + i}`, weight })));
  for (const b of pool.backends) pool.setHealth(b, true);
  return pool;
}

/** The position of `backend` in the pool, for counting picks per backend. */
export function at(pool: Pool, backend: Backend | undefined): number {
  return backend === undefined ? -1 : pool.backends.indexOf(backend);
}

export function strategyContract(name: string, create: () => Strategy): void {
  describe(`strategy contract: ${name}`, () => {
    const specs = [1, 2, 3, 4].map((n) => ({ url: `http://127.0.0.1:${9000 + n}`, weight: n }));

    it('is registered under its own name', () => {
      assert.equal(create().name, name);
      assert.ok(strategyNames().includes(name), `"${name}" is one of ${strategyNames().join(', ')}`);
    });

    it('returns nothing when nothing is available', () => {
      const pool = new Pool(specs);
      const director = new Director(pool, create());
      assert.equal(director.pick(fakeRequest()), undefined);
    });

    it('only ever picks available backends', () => {
      const pool = new Pool(specs);
      const director = new Director(pool, create());
      pool.setHealth(pool.backends[0]!, true);
      pool.setHealth(pool.backends[2]!, true);
      pool.setHealth(pool.backends[3]!, true);
      pool.setState(pool.backends[3]!.id, 'maintenance');
      for (let i = 0; i < 1000; i++) {
        const b = director.pick(fakeRequest(i));
        assert.ok(b === pool.backends[0] || b === pool.backends[2], `picked ${b?.id}`);
      }
    });

    it('follows snapshot changes: a backend that goes down gets nothing, one that comes up gets traffic', () => {
      const pool = new Pool(specs);
      const director = new Director(pool, create());
      for (const b of pool.backends) pool.setHealth(b, true);
      for (let i = 0; i < 100; i++) director.pick(fakeRequest(i));
      pool.setHealth(pool.backends[1]!, false, 'test');
      const seen = new Set<number>();
      for (let i = 0; i < 2000; i++) {
        const b = director.pick(fakeRequest(i));
        assert.ok(b !== undefined && b !== pool.backends[1]);
        seen.add(at(pool, b));
      }
      assert.deepEqual([...seen].sort(), [0, 2, 3], 'every available backend is used');
      pool.setHealth(pool.backends[1]!, true);
      let back = 0;
      for (let i = 0; i < 2000; i++) if (director.pick(fakeRequest(i)) === pool.backends[1]) back++;
      assert.ok(back > 0, 'a recovered backend gets traffic again');
    });

    it('follows the pool as backends are added and removed at runtime', async () => {
      const pool = new Pool(specs.slice(0, 2));
      const director = new Director(pool, create());
      for (const b of pool.backends) pool.setHealth(b, true);
      for (let i = 0; i < 50; i++) director.pick(fakeRequest(i));
      const added = pool.add('http://127.0.0.1:9100|id=added');
      pool.setHealth(added, true);
      let toAdded = 0;
      for (let i = 0; i < 2000; i++) if (director.pick(fakeRequest(i)) === added) toAdded++;
      assert.ok(toAdded > 0, 'an added backend gets traffic');
      await pool.remove(pool.backends[0]!.id);
      for (let i = 0; i < 500; i++) assert.ok(pool.backends.includes(director.pick(fakeRequest(i))!), 'never a removed backend');
    });

    it('copes with a snapshot shrinking to one and to none', () => {
      const pool = new Pool(specs);
      const director = new Director(pool, create());
      for (const b of pool.backends) pool.setHealth(b, true);
      for (let i = 0; i < 10; i++) director.pick(fakeRequest(i));
      for (const b of pool.backends.slice(1)) pool.setHealth(b, false, 'test');
      for (let i = 0; i < 10; i++) assert.equal(director.pick(fakeRequest(i)), pool.backends[0]);
      pool.setHealth(pool.backends[0]!, false, 'test');
      assert.equal(director.pick(fakeRequest()), undefined);
    });

    it('skips what it is told to exclude, and picks nothing when everything is excluded', () => {
      const pool = new Pool(specs);
      const strategy = create();
      for (const b of pool.backends) pool.setHealth(b, true);
      const exclude = new Set([pool.backends[0]!, pool.backends[2]!]);
      const seen = new Set<number>();
      for (let i = 0; i < 1000; i++) {
        // Retries come between first tries: a strategy may keep its rotation for the latter.
        strategy.pick(pool.available, fakeRequest(i));
        const b = strategy.pick(pool.available, fakeRequest(i), exclude);
        assert.ok(b === pool.backends[1] || b === pool.backends[3], `picked ${b?.id}, which is excluded`);
        seen.add(at(pool, b));
      }
      assert.deepEqual([...seen].sort(), [1, 3], 'both of the others are used');
      assert.equal(strategy.pick(pool.available, fakeRequest(), new Set(pool.backends)), undefined);
      for (let i = 0; i < 100; i++) assert.ok(pool.available.includes(strategy.pick(pool.available, fakeRequest(i), new Set())!), 'an empty exclusion changes nothing');
    });

    it('through the director, a full backend is passed over while another has room', () => {
      const pool = new Pool(specs, { maxRequests: 1 });
      const director = new Director(pool, create());
      for (const b of pool.backends) pool.setHealth(b, true);
      for (const b of pool.backends.slice(0, 3)) b.startRequest();
      for (let i = 0; i < 200; i++) assert.equal(director.pick(fakeRequest(i)), pool.backends[3]);
      pool.backends[3]!.startRequest();
      assert.equal(director.pick(fakeRequest()), undefined, 'all full');
    });
  });
}
