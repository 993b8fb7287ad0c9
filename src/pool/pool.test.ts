import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from './pool.js';

const specs = [1, 2, 3].map((n) => ({ url: `http://127.0.0.1:${8000 + n}`, weight: 1 }));

test('starts with an empty snapshot until backends are marked healthy', () => {
  const pool = new Pool(specs);
  assert.equal(pool.healthy.length, 0);
  for (const b of pool.backends) pool.setHealth(b, true);
  assert.deepEqual(pool.healthy.map((b) => b.index), [0, 1, 2]);
});

test('a snapshot is frozen and replaced, never mutated, and only on a flip', () => {
  const pool = new Pool(specs);
  for (const b of pool.backends) pool.setHealth(b, true);
  const before = pool.healthy;
  assert.ok(Object.isFrozen(before));
  assert.equal(pool.setHealth(pool.backends[1]!, true), false, 'no flip');
  assert.equal(pool.healthy, before, 'same reference when nothing changed');
  assert.equal(pool.setHealth(pool.backends[1]!, false, 'status 500'), true);
  assert.notEqual(pool.healthy, before);
  assert.deepEqual(before.map((b) => b.index), [0, 1, 2], 'the old snapshot is untouched');
  assert.deepEqual(pool.healthy.map((b) => b.index), [0, 2]);
  assert.equal(pool.backends[1]!.healthReason, 'status 500');
});

test('emits one health event per flip', () => {
  const pool = new Pool(specs);
  const events: string[] = [];
  pool.on('health', (c) => events.push(`${c.backend.index}:${c.healthy}:${c.reason ?? ''}`));
  const b = pool.backends[0]!;
  pool.setHealth(b, true);
  pool.setHealth(b, true);
  pool.setHealth(b, false, 'timeout');
  pool.setHealth(b, false, 'timeout');
  pool.setHealth(b, true);
  assert.deepEqual(events, ['0:true:', '0:false:timeout', '0:true:']);
  const other = pool.backends[1]!;
  pool.setHealth(other, false, 'connection refused');
  assert.deepEqual(events.at(-1), '1:false:connection refused', 'a first verdict of down is an event too');
});

test('parses the path prefix from the backend URL', () => {
  const pool = new Pool([{ url: 'http://127.0.0.1:9000/api/v1', weight: 3 }]);
  const b = pool.backends[0]!;
  assert.equal(b.origin, 'http://127.0.0.1:9000');
  assert.equal(b.pathPrefix, '/api/v1');
  assert.equal(b.weight, 3);
});
