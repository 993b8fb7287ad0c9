import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMPTY_STATE, StateFile, type PoolState } from './state-file.js';

function tempFile(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb-state-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'state.json');
}

const API: PoolState = { added: [{ id: 'x', url: 'http://127.0.0.1:9001', weight: 3 }], removed: ['api-1'], weights: {}, maintenance: [] };
const DEFAULT: PoolState = { added: [], removed: [], weights: { a: 5 }, maintenance: ['b'] };

test('STATE_FILE holds every pool\'s part: a pool saving its part keeps the others\', and a new reader sees them all', (t) => {
  const path = tempFile(t);
  const file = new StateFile(path);
  assert.equal(file.load('default'), EMPTY_STATE, 'no file: no changes');
  file.part('default').save(DEFAULT);
  file.part('api').save(API);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { version: 2, pools: { default: DEFAULT, api: API } });
  const again = new StateFile(path);
  assert.deepEqual(again.part('default').load(), DEFAULT);
  assert.deepEqual(again.part('api').load(), API);
  assert.equal(again.load('other'), EMPTY_STATE);
  // A pool whose changes are all undone leaves the file.
  again.part('api').save(EMPTY_STATE);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { version: 2, pools: { default: DEFAULT } });
});

test('STATE_FILE of the single-pool format (version 1) is read as the default pool\'s part, and rewritten in the pools format', (t) => {
  const path = tempFile(t);
  writeFileSync(path, JSON.stringify({ version: 1, ...DEFAULT }));
  const file = new StateFile(path);
  assert.deepEqual(file.load('default'), DEFAULT);
  assert.equal(file.load('api'), EMPTY_STATE);
  file.save('api', API);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { version: 2, pools: { default: DEFAULT, api: API } });
});

test('a corrupt STATE_FILE is a ConfigError that names the pool whose part is wrong', (t) => {
  const path = tempFile(t);
  writeFileSync(path, JSON.stringify({ version: 2, pools: { default: DEFAULT, api: { added: [{ url: 'gopher://x' }] } } }));
  assert.throws(() => new StateFile(path).load('default'), (err: Error & { code?: string }) =>
    err.code === 'LB_ERR_CONFIG' && /invalid STATE_FILE .*pool "api".*fix or delete the file/.test(err.message));
  writeFileSync(path, JSON.stringify({ version: 3 }));
  assert.throws(() => new StateFile(path).load('default'), /invalid STATE_FILE/);
});
