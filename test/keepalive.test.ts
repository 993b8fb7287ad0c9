import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent, request } from 'undici';
import { startBackend } from './helpers/backend.js';
import { startInProcess } from './helpers/in-process-lb.js';

test('500 sequential requests reuse a handful of upstream connections', async (t) => {
  const backend = await startBackend('one');
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', HTTP_MAX_IDLE_CONNS_PER_HOST: '4' }, t);
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

test('HTTP_MAX_IDLE_CONNS_PER_HOST caps what is kept idle, not what may be open: concurrent requests never wait for a connection', { timeout: 60_000 }, async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  let waiting = 0;
  let allArrived!: () => void;
  const arrived = new Promise<void>((resolve) => { allArrived = resolve; });
  const backend = await startBackend('one', (req, res) => {
    if (req.url === '/health') { res.end(); return; }
    if (++waiting === 12) allArrived();
    void gate.then(() => res.end('one'));
  });
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', HTTP_MAX_IDLE_CONNS_PER_HOST: '3', PROXY_TIMEOUT: '1h' }, t);
  const healthSockets = backend.sockets.size;
  const agent = new Agent({ connections: 20 });
  t.after(() => agent.close());
  // Twelve requests held by the backend at once: with a cap on open connections, nine would wait.
  const bodies = Promise.all(Array.from({ length: 12 }, async () => (await request(lb.url, { dispatcher: agent })).body.text()));
  await arrived;
  assert.equal(backend.sockets.size - healthSockets, 12, 'one upstream connection per request in flight');
  release();
  assert.ok((await bodies).every((b) => b === 'one'));
  // Nine of the twelve close once they have stayed idle a while: three stay.
  while (backend.sockets.size - healthSockets > 3) await Promise.race([...backend.sockets].map((s) => once(s, 'close')));
  assert.equal(backend.sockets.size - healthSockets, 3);
});
