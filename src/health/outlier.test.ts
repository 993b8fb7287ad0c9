import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Pool } from '../pool/index.js';
import { OutlierDetector } from './outlier.js';

function setUp(consecutiveFailures = 3): { pool: Pool; outlier: OutlierDetector } {
  const pool = new Pool([1, 2, 3, 4].map((n) => `http://127.0.0.1:${8000 + n}`));
  for (const b of pool.backends) pool.setHealth(b, true);
  const outlier = new OutlierDetector(pool, { consecutiveFailures, ejectionTime: 60_000, maxEjected: 0.5 }, pino({ level: 'silent' }));
  return { pool, outlier };
}

test('a run of gateway failures ejects a backend; a good answer in between ends the run', (t) => {
  const { pool, outlier } = setUp();
  t.after(() => outlier.stop());
  const b = pool.backends[0]!;
  outlier.failure(b, 'reset');
  outlier.failure(b, 'reset');
  outlier.success(b);
  assert.deepEqual([b.failures, b.errors, b.ejected], [0, 2, false]);
  for (let i = 0; i < 3; i++) outlier.failure(b, 'reset');
  assert.deepEqual([b.failures, b.errors, b.ejections, b.state], [3, 5, 1, 'ejected']);
  assert.equal(pool.available.includes(b), false);
});

test('an active check that sees the backend come back up returns it with a clean record', (t) => {
  const { pool, outlier } = setUp(1);
  t.after(() => outlier.stop());
  const b = pool.backends[1]!;
  outlier.failure(b, 'timeout');
  assert.equal(b.ejected, true);
  pool.setHealth(b, false, 'refused');
  pool.setHealth(b, true);
  assert.deepEqual([b.ejected, b.failures, b.errors], [false, 0, 1]);
});

test('never more than maxEjected of the pool is out, however many fail', (t) => {
  const { pool, outlier } = setUp(1);
  t.after(() => outlier.stop());
  for (const b of pool.backends) outlier.failure(b, 'refused');
  assert.deepEqual(pool.backends.map((b) => b.ejected), [true, true, false, false]);
  assert.deepEqual(pool.backends.map((b) => b.ejections), [1, 1, 0, 0]);
});
