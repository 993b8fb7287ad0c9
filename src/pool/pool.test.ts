import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidBackend, parseBackendText } from './backend-spec.js';
import { Pool, type PoolChange } from './pool.js';

const specs = [1, 2, 3].map((n) => ({ url: `http://127.0.0.1:${8000 + n}`, weight: 1 }));
const ids = (list: readonly { id: string }[]): string[] => list.map((b) => b.id);

function healthy(pool: Pool): Pool {
  for (const b of pool.backends) pool.setHealth(b, true);
  return pool;
}

test('a backend is known by its id: given with |id=NAME or id:, else host:port', () => {
  assert.equal(parseBackendText('http://10.0.0.1:3000/api').id, '10.0.0.1:3000');
  assert.equal(parseBackendText('https://api.internal').id, 'api.internal:443');
  assert.equal(parseBackendText('http://api.internal').id, 'api.internal:80');
  assert.equal(parseBackendText('http://10.0.0.1:3000|id=blue-1|weight=2').id, 'blue-1');
  assert.deepEqual(new Pool([{ url: 'http://10.0.0.1:3000', id: 'green' }]).backends.map((b) => [b.id, b.weight]), [['green', 1]]);
  assert.throws(() => parseBackendText('http://10.0.0.1:3000|id=no spaces'), InvalidBackend);
  assert.throws(() => new Pool(['http://10.0.0.1:3000/a', 'http://10.0.0.1:3000/b']), /each backend id once/);
  assert.doesNotThrow(() => new Pool(['http://10.0.0.1:3000/a|id=a', 'http://10.0.0.1:3000/b|id=b']));
});

test('starts with an empty snapshot until backends are marked healthy', () => {
  const pool = new Pool(specs);
  assert.equal(pool.available.length, 0);
  healthy(pool);
  assert.deepEqual(ids(pool.available), ['127.0.0.1:8001', '127.0.0.1:8002', '127.0.0.1:8003']);
});

test('a snapshot is frozen and replaced, never mutated, and only on a change', () => {
  const pool = healthy(new Pool(specs));
  const before = pool.available;
  assert.ok(Object.isFrozen(before));
  assert.equal(pool.setHealth(pool.backends[1]!, true), false, 'no flip');
  assert.equal(pool.available, before, 'same reference when nothing changed');
  assert.equal(pool.setHealth(pool.backends[1]!, false, 'status 500'), true);
  assert.notEqual(pool.available, before);
  assert.deepEqual(ids(before), ['127.0.0.1:8001', '127.0.0.1:8002', '127.0.0.1:8003'], 'the old snapshot is untouched');
  assert.deepEqual(ids(pool.available), ['127.0.0.1:8001', '127.0.0.1:8003']);
  assert.equal(pool.backends[1]!.healthReason, 'status 500');
});

test('emits one health event per flip', () => {
  const pool = new Pool(specs);
  const events: string[] = [];
  pool.on('health', (c) => events.push(`${c.backend.id}:${c.healthy}:${c.reason ?? ''}`));
  const b = pool.backends[0]!;
  pool.setHealth(b, true);
  pool.setHealth(b, true);
  pool.setHealth(b, false, 'timeout');
  pool.setHealth(b, false, 'timeout');
  pool.setHealth(b, true);
  assert.deepEqual(events, ['127.0.0.1:8001:true:', '127.0.0.1:8001:false:timeout', '127.0.0.1:8001:true:']);
  pool.setHealth(pool.backends[1]!, false, 'connection refused');
  assert.equal(events.at(-1), '127.0.0.1:8002:false:connection refused', 'a first verdict of down is an event too');
});

test('parses the path prefix from the backend URL', () => {
  const b = new Pool([{ url: 'http://127.0.0.1:9000/api/v1/', weight: 3 }]).backends[0]!;
  assert.equal(b.origin, 'http://127.0.0.1:9000');
  assert.equal(b.pathPrefix, '/api/v1');
  assert.equal(b.url, 'http://127.0.0.1:9000/api/v1');
  assert.equal(b.weight, 3);
});

test('add: validated like the configuration, unique, and out of the snapshot until healthy', () => {
  const pool = healthy(new Pool(specs));
  const changes: PoolChange[] = [];
  pool.on('change', (c) => changes.push(c));
  const added = pool.add({ url: 'http://127.0.0.1:8004', weight: 2 });
  assert.equal(pool.get('127.0.0.1:8004'), added);
  assert.deepEqual(changes.map((c) => [c.kind, c.backend.id]), [['added', '127.0.0.1:8004']]);
  assert.equal(pool.available.includes(added), false);
  pool.setHealth(added, true);
  assert.equal(pool.available.at(-1), added);
  assert.throws(() => pool.add('ftp://127.0.0.1:1'), /expected an http:\/\/ or https:\/\/ URL/);
  assert.throws(() => pool.add('http://127.0.0.1:8001'), /each backend URL once/);
  assert.throws(() => pool.add('http://127.0.0.1:9|weight=0'), /expected a weight that is an integer from 1/);
});

test('remove: no new requests at once, the backend stays until its requests in flight have finished', async () => {
  const pool = healthy(new Pool(specs));
  const victim = pool.backends[1]!;
  victim.startRequest();
  victim.startRequest();
  const kinds: string[] = [];
  pool.on('change', (c) => kinds.push(`${c.kind}:${c.backend.state}`));
  let removed = false;
  const removal = pool.remove(victim.id).then(() => { removed = true; });
  assert.equal(pool.available.includes(victim), false, 'out of the snapshot at once');
  assert.equal(pool.get(victim.id), victim, 'still in the pool while requests are in flight');
  assert.equal(victim.state, 'draining');
  victim.endRequest();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(removed, false);
  victim.endRequest();
  await removal;
  assert.equal(pool.get(victim.id), undefined);
  assert.deepEqual(ids(pool.backends), ['127.0.0.1:8001', '127.0.0.1:8003']);
  assert.deepEqual(kinds, ['admin:draining', 'removed:draining']);
  await assert.rejects(pool.remove('nope'), /expected the id of a backend in the pool/);
});

test('drain ends in maintenance; maintenance and enabled are immediate; weights are validated and republished', async () => {
  const pool = healthy(new Pool(specs));
  const b = pool.backends[0]!;
  b.startRequest();
  const drained = pool.drain(b.id);
  assert.equal(b.state, 'draining');
  assert.equal(pool.available.includes(b), false);
  b.endRequest();
  await drained;
  assert.equal(b.state, 'maintenance');
  pool.setState(b.id, 'enabled');
  assert.equal(b.state, 'up');
  assert.equal(pool.available[0], b);
  pool.setState(b.id, 'maintenance');
  assert.equal(pool.available.includes(b), false);
  pool.setState(b.id, 'enabled');
  const before = pool.available;
  pool.setWeight(b.id, 5);
  assert.notEqual(pool.available, before, 'a new snapshot, so strategies rebuild their tables');
  assert.deepEqual([b.weight, b.effectiveWeight], [5, 5]);
  assert.throws(() => pool.setWeight(b.id, 0), /expected a weight/);
  assert.throws(() => pool.setState(b.id, 'gone' as never), /expected a state of enabled, maintenance or draining/);
});

test('health and its hysteresis follow the backend, whatever the order of the others', async () => {
  const pool = new Pool(specs);
  const third = pool.backends[2]!;
  third.recordCheck(true, 2, 2);
  pool.setHealth(third, true);
  await pool.remove(pool.backends[0]!.id);
  pool.add('http://127.0.0.1:8000');
  assert.equal(pool.get('127.0.0.1:8003'), third);
  assert.deepEqual([third.healthy, third.hysteresis.healthy], [true, true]);
  assert.deepEqual(ids(pool.available), ['127.0.0.1:8003']);
});

test('ejection takes a backend out of the snapshot and returns it', () => {
  const pool = healthy(new Pool(specs));
  const b = pool.backends[1]!;
  assert.equal(pool.setEjected(b, true), true);
  assert.equal(pool.setEjected(b, true), false);
  assert.equal(b.state, 'ejected');
  assert.equal(pool.available.includes(b), false);
  pool.setEjected(b, false);
  assert.equal(pool.available.includes(b), true);
});
