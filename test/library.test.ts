// @engine-independent: it embeds the library and runs each engine itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { ConfigError, createLoadBalancer, type Strategy } from '../src/index.js';
import { get } from './helpers/http.js';
import { startBackend } from './helpers/backend.js';

const silent = pino({ level: 'silent' });

for (const engine of ['node', 'fast'] as const) test(`createLoadBalancer embeds in a Node program: start, proxy, inspect the pool, stop (engine ${engine})`, async (t) => {
  const backends = await Promise.all(['x', 'y'].map((n) => startBackend(n)));
  t.after(() => Promise.all(backends.map((b) => b.close())));
  const lb = createLoadBalancer({ host: '127.0.0.1', port: 0, engine, backends: backends.map((b) => b.url), health: { path: '/health', interval: 3_600_000 } }, { logger: silent });
  const address = await lb.start();
  assert.equal(lb.pool.available.length, 2);
  const bodies = [];
  for (let i = 0; i < 4; i++) bodies.push((await get(`http://127.0.0.1:${address.port}/`)).body);
  assert.deepEqual(bodies, ['x', 'y', 'x', 'y']);
  assert.deepEqual(lb.pool.backends.map((b) => b.requests), [2, 2]);
  assert.deepEqual(await lb.stop(), { cut: 0 });
});

test('createLoadBalancer accepts a strategy object', async (t) => {
  const backends = await Promise.all(['x', 'y'].map((n) => startBackend(n)));
  t.after(() => Promise.all(backends.map((b) => b.close())));
  const alwaysLast: Strategy = { name: 'always-last', pick: (healthy) => healthy[healthy.length - 1] };
  for (const lb of [
    createLoadBalancer({ host: '127.0.0.1', port: 0, backends: backends.map((b) => b.url) }, { logger: silent, strategy: alwaysLast }),
    createLoadBalancer({ host: '127.0.0.1', port: 0, backends: backends.map((b) => b.url), strategy: alwaysLast }, { logger: silent }),
  ]) {
    const { port } = await lb.start();
    for (let i = 0; i < 3; i++) assert.equal((await get(`http://127.0.0.1:${port}/`)).body, 'y');
    assert.equal(lb.director.strategy.name, 'always-last');
    await lb.stop();
  }
  assert.throws(() => createLoadBalancer({ strategy: { name: 'no-pick' } as unknown as Strategy }, { logger: silent }), /invalid strategy object/);
});

test('createLoadBalancer rejects bad options with a ConfigError naming the setting', () => {
  assert.throws(() => createLoadBalancer({ proxy: { timeout: 'soon' } }, { logger: silent }),
    (err: unknown) => err instanceof ConfigError && err.message === 'invalid proxy.timeout "soon": expected a positive duration such as 250ms, 10s or 1m30s');
  assert.throws(() => createLoadBalancer({ backends: [] }, { logger: silent }), /invalid backends \[\]: expected at least one backend/);
  assert.throws(() => createLoadBalancer({ nonsense: true } as never, { logger: silent }), /unknown setting "nonsense"/);
});

test('createLoadBalancer with strategyModule: the module\'s strategy is used, under a name of its own', async (t) => {
  const backend = await startBackend('x');
  t.after(() => backend.close());
  const module = fileURLToPath(new URL('../../examples/fewest-requests-strategy.js', import.meta.url));
  const lb = createLoadBalancer({ host: '127.0.0.1', port: 0, backends: [backend.url], strategyModule: module, strategy: 'fewest-requests' }, { logger: silent });
  const { port } = await lb.start();
  t.after(() => lb.stop());
  assert.equal(lb.director.strategy.name, 'fewest-requests');
  assert.equal((await get(`http://127.0.0.1:${port}/`)).body, 'x');
  // Without a module, a name must be a registered strategy's (the type says so too).
  assert.throws(() => createLoadBalancer({ strategy: 'fewest-requests' as 'round-robin' }, { logger: silent }), ConfigError);
});
