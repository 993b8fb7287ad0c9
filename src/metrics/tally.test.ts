import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteCache } from '../context/index.js';
import { Pool } from '../pool/index.js';
import { foldRows, parseRowKey, ROW, rowKey, Tally } from './tally.js';

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

test('rows by route and pool: the backend id alone without either; a routed request in its route\'s row; the keys say backend, pool and route', () => {
  const tally = new Tally();
  const a = new Pool(['http://127.0.0.1:8001|id=a']).backends[0]!;
  const apiA = new Pool(['http://127.0.0.1:8002|id=a']).backends[0]!;
  tally.record(tally.rowOf(a), 200, 0.001);
  tally.record(tally.rowOf(apiA, 'api'), 200, 0.001);
  tally.record(tally.routeRow('v1', 'api', apiA), 200, 0.001);
  assert.equal(tally.routeRow('v1', 'api', apiA), tally.routeRow('v1', 'api', apiA), 'found again, not made');
  tally.record(tally.routeRow('v1', 'api', undefined), 503, 0.001);
  const keys = [...tally.entries()].map(([key]) => key);
  assert.deepEqual(keys, ['a', rowKey('', 'api', 'a'), rowKey('v1', 'api', 'a'), rowKey('v1', 'api', '')]);
  assert.deepEqual(keys.map(parseRowKey), [
    { backend: 'a', pool: 'default', route: '' }, { backend: 'a', pool: 'api', route: '' },
    { backend: 'a', pool: 'api', route: 'v1' }, { backend: '', pool: 'api', route: 'v1' },
  ]);
  const api = foldRows(tally.entries(), 'api');
  assert.equal(api.get('a')![ROW.status + 1], 2, 'both of pool api\'s rows of a, every route');
  assert.equal(api.get(`\t${rowKey('', 'default', 'a')}`)![ROW.status + 1], 1, 'the default pool\'s a kept apart');
  assert.equal(foldRows(tally.entries(), 'default').get('a')![ROW.status + 1], 1);
});

test('a route\'s own cache gives the row its name gives, for its tally only and its route only', () => {
  const tally = new Tally();
  const [a, b] = new Pool(['http://127.0.0.1:8001|id=a', 'http://127.0.0.1:8002|id=b']).backends;
  const cache: RouteCache = { name: 'v1', rowsOwner: undefined, rows: [] };
  const rowA = tally.routeRow('v1', 'api', a!, cache);
  assert.equal(rowA, tally.routeRow('v1', 'api', a!), 'the row by name');
  assert.equal(tally.routeRow('v1', 'api', b!, cache), tally.routeRow('v1', 'api', b!));
  assert.equal(tally.routeRow('v1', 'api', a!, cache), rowA, 'from the cache');
  assert.deepEqual(cache.rows, [a, rowA, b, tally.routeRow('v1', 'api', b!)]);
  // Another route's request never takes this cache's rows.
  assert.equal(tally.routeRow('v2', 'api', a!, cache), tally.routeRow('v2', 'api', a!));
  assert.notEqual(tally.routeRow('v2', 'api', a!, cache), rowA);
  // Another tally starts the cache over with its own rows.
  const other = new Tally();
  const otherA = other.routeRow('v1', 'api', a!, cache);
  assert.notEqual(otherA, rowA);
  assert.equal(otherA, other.routeRow('v1', 'api', a!));
  assert.deepEqual(cache.rows, [a, otherA]);
  // A pool of many backends: the cache holds a few and starts over, every row still the one by name.
  const many = new Pool(Array.from({ length: 20 }, (_, i) => `http://127.0.0.1:${9000 + i}|id=m${i}`)).backends;
  for (const backend of [...many, ...many]) assert.equal(tally.routeRow('v1', 'api', backend, cache), tally.routeRow('v1', 'api', backend));
  assert.ok(cache.rows.length <= 16);
});
