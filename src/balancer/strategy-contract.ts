import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from '../pool/index.js';
import { Director } from './director.js';
import type { PickRequest, Strategy } from './strategy.js';

/** A request for contract tests; `i` varies the client address and path. */
export function fakeRequest(i = 0): PickRequest {
  return { method: 'GET', path: `/item/${i}`, headers: { host: 'example.test' }, clientIp: `10.0.${(i >> 8) & 255}.${i & 255}` };
}

/**
 * The behaviour every strategy must show. Each strategy's test file calls this with a factory,
 * so a new strategy gets the same checks for free.
 */
export function strategyContract(name: string, create: () => Strategy): void {
  describe(`strategy contract: ${name}`, () => {
    const specs = [1, 2, 3, 4].map((n) => ({ url: `http://127.0.0.1:${9000 + n}`, weight: n }));

    it('is registered under its own name', () => {
      assert.equal(create().name, name);
    });

    it('returns nothing when nothing is healthy', () => {
      const pool = new Pool(specs);
      const director = new Director(pool, create());
      assert.equal(director.pick(fakeRequest()), undefined);
    });

    it('only ever picks healthy backends', () => {
      const pool = new Pool(specs);
      const strategy = create();
      const director = new Director(pool, strategy);
      pool.setHealth(pool.backends[0]!, true);
      pool.setHealth(pool.backends[2]!, true);
      for (let i = 0; i < 1000; i++) {
        const b = director.pick(fakeRequest(i));
        assert.ok(b === pool.backends[0] || b === pool.backends[2], `picked ${b?.url}`);
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
        seen.add(b.index);
      }
      assert.deepEqual([...seen].sort(), [0, 2, 3], 'every healthy backend is used');
      pool.setHealth(pool.backends[1]!, true);
      let back = 0;
      for (let i = 0; i < 2000; i++) if (director.pick(fakeRequest(i)) === pool.backends[1]) back++;
      assert.ok(back > 0, 'a recovered backend gets traffic again');
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
  });
}
