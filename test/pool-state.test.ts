import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { strategyNames } from '../src/balancer/index.js';
import { objectLayer, resolveConfig } from '../src/config/index.js';
import { LoadBalancer } from '../src/index.js';

/** A balancer with a default pool (a, b) and a pool `api` (api-1), keeping its runtime changes in `stateFile`; not started (the keepers read the file as it is made). */
function balancer(stateFile: string): LoadBalancer {
  const config = resolveConfig([objectLayer({
    host: '127.0.0.1', port: 0, stateFile,
    backends: ['http://127.0.0.1:9101|id=a', 'http://127.0.0.1:9102|id=b'],
    pools: { api: { backends: ['http://127.0.0.1:9201|id=api-1'] } },
  }, 'test')], strategyNames());
  return new LoadBalancer(config, { logger: pino({ level: 'silent' }) });
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb-pool-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const ids = (lb: LoadBalancer, pool: string): [string, number][] => lb.pools.get(pool)!.backends.map((b) => [b.id, b.weight]);

test('STATE_FILE keeps each pool\'s runtime changes apart: a backend added to pool api comes back in api after a restart, the default pool\'s changes in the default pool', (t) => {
  const stateFile = join(tempDir(t), 'state.json');
  const first = balancer(stateFile);
  first.pools.get('api')!.add('http://127.0.0.1:9202|id=api-2|weight=2');
  first.services.get('api')!.changed();
  first.pool.setWeight('a', 5);
  first.services.get('default')!.changed();
  assert.deepEqual(JSON.parse(readFileSync(stateFile, 'utf8')).pools, {
    default: { added: [], removed: [], weights: { a: 5 }, maintenance: [] },
    api: { added: [{ id: 'api-2', url: 'http://127.0.0.1:9202', weight: 2 }], removed: [], weights: {}, maintenance: [] },
  }, 'the default pool\'s write kept api\'s part');

  const second = balancer(stateFile);
  assert.deepEqual(ids(second, 'api'), [['api-1', 1], ['api-2', 2]]);
  assert.deepEqual(ids(second, 'default'), [['a', 5], ['b', 1]]);
});

test('STATE_FILE of the single-pool format is the default pool\'s: read at start, then kept beside the other pools\' parts', (t) => {
  const stateFile = join(tempDir(t), 'state.json');
  writeFileSync(stateFile, JSON.stringify({ version: 1, added: [{ id: 'c', url: 'http://127.0.0.1:9103', weight: 1 }], removed: ['b'], weights: {}, maintenance: [] }));
  const lb = balancer(stateFile);
  assert.deepEqual(ids(lb, 'default'), [['a', 1], ['c', 1]]);
  assert.deepEqual(ids(lb, 'api'), [['api-1', 1]], 'the old file says nothing of other pools');
  lb.pools.get('api')!.setState('api-1', 'maintenance');
  lb.services.get('api')!.changed();
  const saved = JSON.parse(readFileSync(stateFile, 'utf8'));
  assert.equal(saved.version, 2);
  assert.deepEqual(saved.pools.default.removed, ['b']);
  assert.deepEqual(saved.pools.api.maintenance, ['api-1']);
  assert.deepEqual(ids(balancer(stateFile), 'default'), [['a', 1], ['c', 1]]);
});
