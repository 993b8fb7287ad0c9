import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from '../pool/index.js';
import { ROW, Tally } from './tally.js';

test("a backend's row is looked up once and bound to it; a gateway failure counts in it", () => {
  const tally = new Tally();
  const pool = new Pool(['http://127.0.0.1:8001|id=a']);
  const a = pool.backends[0]!;
  const row = tally.rowOf(a);
  assert.equal(a.metricsRow, row);
  assert.equal(tally.rowOf(a), row);
  tally.gatewayFailure(a);
  tally.record(row, 502, 0.002);
  assert.deepEqual([row[ROW.failures], row[ROW.status + 4]], [1, 1]);
  assert.deepEqual([...tally.entries()].map(([id]) => id), ['a']);
});

test('a backend removed and added again under its id counts on in the same row', async () => {
  const tally = new Tally();
  const pool = new Pool(['http://127.0.0.1:8001|id=a']);
  tally.gatewayFailure(pool.backends[0]!);
  await pool.remove('a');
  const again = pool.add('http://127.0.0.1:8001|id=a');
  tally.gatewayFailure(again);
  assert.equal(tally.row('a')[ROW.failures], 2);
});
