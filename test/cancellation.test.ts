import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rawConnect, whenClosed } from './helpers/http.js';
import { startBackend } from './helpers/backend.js';
import { startInProcess } from './helpers/in-process-lb.js';

test('a client that disconnects aborts the upstream request: the backend sees its connection close within 100 ms', async (t) => {
  const backend = await startBackend('slow', (req, res) => { if (req.url === '/health') res.end(); });
  t.after(() => backend.close());
  // No deadline can close the upstream request: only the client leaving can.
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', PROXY_TIMEOUT: '1h', CLIENT_BODY_TIMEOUT: '0' }, t);

  for (const [name, request] of [
    ['waiting for headers', 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['uploading a body', 'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\npartial'],
  ] as const) {
    const client = await rawConnect(lb.port);
    client.write(request);
    const upstream = await backend.nextRequest();
    const upstreamClosed = whenClosed(upstream.socket);
    const left = performance.now();
    client.destroy();
    await upstreamClosed;
    const ms = performance.now() - left;
    t.diagnostic(`${name}: upstream closed ${ms.toFixed(2)} ms after the client disconnected`);
  }
  const access = await lb.waitForLog((l) => l.msg === 'request' && l.status === 499);
  assert.equal(access.path, '/slow');
});

test('a client that disconnects mid-response stops the upstream transfer', async (t) => {
  const backend = await startBackend('endless', (req, res) => {
    if (req.url === '/health') { res.end(); return; }
    const chunk = Buffer.alloc(64 * 1024, 97);
    const pump = () => { while (res.write(chunk)); };
    res.on('drain', pump);
    pump();
  });
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health' }, t);

  const client = await rawConnect(lb.port);
  client.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
  const upstream = await backend.nextRequest();
  await once(client, 'data');
  const upstreamClosed = whenClosed(upstream.socket);
  client.destroy();
  await upstreamClosed;
  assert.equal(backend.sockets.has(upstream.socket), false);
});
