import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import type { LoadBalancer, StrategyName } from '../src/index.js';
import { get } from './helpers/http.js';
import { startBackend, startBackends, type TestBackend } from './helpers/backend.js';
import { startInProcess } from './helpers/in-process-lb.js';

/** A balancer in this process on the engine the suite runs (TEST_ENGINE), its pool driven through `lb.pool`. */
async function start(t: { after(fn: () => unknown): void }, backends: readonly TestBackend[], strategy: StrategyName = 'round-robin'): Promise<{ lb: LoadBalancer; url: string }> {
  const { lb, url } = await startInProcess({ BACKENDS: backends.map((b) => b.url).join(','), STRATEGY: strategy, HEALTH_CHECK_PATH: '/health' }, t);
  return { lb, url };
}

async function bodies(url: string, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const { body } = await get(url);
    counts[body] = (counts[body] ?? 0) + 1;
  }
  return counts;
}

/** A request held by the backend until released; resolves with the response once it starts. */
function held(url: string): Promise<IncomingMessage> {
  return once(request(`${url}/hold`, { agent: false }).end(), 'response').then(([res]) => res as IncomingMessage);
}

test('lb.pool.add: a backend added at runtime is health-checked, then takes its share', async (t) => {
  const [a, b] = await startBackends(t, undefined, ['a', 'b']);
  const { lb, url } = await start(t, [a!, b!]);
  const c = await startBackend('c');
  t.after(() => c.close());
  const health = once(c.server, 'request') as Promise<[IncomingMessage]>;
  const added = lb.pool.add(`${c.url}|id=c`);
  assert.equal(added.id, 'c');
  const [check] = await health;
  assert.equal(check.url, '/health', 'checked before any traffic');
  if (!added.healthy) await once(lb.pool, 'health');
  assert.deepEqual(await bodies(url, 30), { a: 10, b: 10, c: 10 });
  assert.throws(() => lb.pool.add('ftp://127.0.0.1:1'), /expected an http:\/\/ or https:\/\/ URL/);
});

test('lb.pool.remove: a request in flight to the removed backend finishes; nothing new goes there; its connections close', async (t) => {
  const releases: (() => void)[] = [];
  const [a, b] = await startBackends(t, (req, res, backend) => {
    if (req.url === '/hold') { releases.push(() => res.end(`held ${backend.name}`)); return; }
    res.end(backend.name);
  }, ['a', 'b']);
  const { lb, url } = await start(t, [a!, b!]);
  const pending = held(url); // round robin: to a
  await a!.nextRequest();
  let removed = false;
  const removal = lb.pool.remove(`127.0.0.1:${a!.port}`).then(() => { removed = true; });
  assert.deepEqual(await bodies(url, 6), { b: 6 }, 'no new request to a removed backend');
  assert.equal(removed, false, 'not gone while its request is in flight');
  releases.shift()!();
  const res = await pending;
  let body = '';
  for await (const chunk of res) body += chunk;
  assert.deepEqual([res.statusCode, body], [200, 'held a']);
  await removal;
  assert.deepEqual(lb.pool.backends.map((x) => x.id), [`127.0.0.1:${b!.port}`]);
  while (a!.sockets.size > 1) await once([...a!.sockets].at(-1)!, 'close'); // the health check's own connection may stay
  assert.ok(a!.requests.filter((r) => r.url !== '/health').length === 1);
});

test('lb.pool.drain and setState: draining finishes what is in flight and ends in maintenance; enabled brings it back', async (t) => {
  const releases: (() => void)[] = [];
  const [a, b] = await startBackends(t, (req, res, backend) => {
    if (req.url === '/hold') { releases.push(() => res.end('done')); return; }
    res.end(backend.name);
  }, ['a', 'b']);
  const { lb, url } = await start(t, [a!, b!]);
  const idA = `127.0.0.1:${a!.port}`;
  const pending = held(url);
  await a!.nextRequest();
  const drained = lb.pool.drain(idA);
  assert.equal(lb.pool.get(idA)!.state, 'draining');
  assert.deepEqual(await bodies(url, 4), { b: 4 });
  releases.shift()!();
  assert.equal((await pending).statusCode, 200);
  await drained;
  assert.equal(lb.pool.get(idA)!.state, 'maintenance');
  assert.deepEqual(await bodies(url, 4), { b: 4 });
  lb.pool.setState(idA, 'enabled');
  assert.deepEqual(await bodies(url, 4), { a: 2, b: 2 });
  lb.pool.setState(`127.0.0.1:${b!.port}`, 'maintenance');
  assert.deepEqual(await bodies(url, 3), { a: 3 });
});

test('lb.pool.setWeight: weighted strategies follow a new weight at once', async (t) => {
  const [a, b] = await startBackends(t, undefined, ['a', 'b']);
  const { lb, url } = await start(t, [a!, b!], 'weighted-round-robin');
  assert.deepEqual(await bodies(url, 20), { a: 10, b: 10 });
  lb.pool.setWeight(`127.0.0.1:${a!.port}`, 3);
  assert.deepEqual(await bodies(url, 40), { a: 30, b: 10 });
  assert.throws(() => lb.pool.setWeight(`127.0.0.1:${a!.port}`, 0), /expected a weight that is an integer from 1/);
});
