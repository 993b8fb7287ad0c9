import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { startBackend } from './helpers/backend.js';
import { startLb } from './helpers/lb.js';

test('500 sequential requests reuse a handful of upstream connections', async (t) => {
  const backend = await startBackend('one');
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', HTTP_MAX_IDLE_CONNS_PER_HOST: '4' });
  t.after(() => lb.stop());
  const healthConnections = backend.connections;

  // A fresh client connection per request, so client keep-alive cannot hide anything.
  for (let i = 0; i < 500; i++) {
    const agent = new Agent({ pipelining: 0 });
    const res = await request(lb.url, { dispatcher: agent });
    assert.equal(await res.body.text(), 'one');
    await agent.close();
  }
  const proxyConnections = backend.connections - healthConnections;
  assert.ok(proxyConnections >= 1 && proxyConnections <= 4, `${proxyConnections} upstream connections for 500 requests`);
  t.diagnostic(`upstream connections for 500 sequential requests: ${proxyConnections}`);
});

test('concurrent requests never open more than HTTP_MAX_IDLE_CONNS_PER_HOST upstream connections', async (t) => {
  const backend = await startBackend('one', (_req, res) => { setTimeout(() => res.end('one'), 5); });
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', HTTP_MAX_IDLE_CONNS_PER_HOST: '3' });
  t.after(() => lb.stop());
  const before = backend.connections;
  const agent = new Agent({ connections: 20 });
  t.after(() => agent.close());
  const bodies = await Promise.all(Array.from({ length: 60 }, async () => (await request(lb.url, { dispatcher: agent })).body.text()));
  assert.ok(bodies.every((b) => b === 'one'));
  assert.ok(backend.connections - before <= 3, `${backend.connections - before} upstream connections`);
});
