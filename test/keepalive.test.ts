import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent, request } from 'undici';
import { startBackend } from './helpers/backend.js';
import { startInProcess } from './helpers/in-process-lb.js';
import type { Socket } from 'node:net';
import { rawConnect, whenClosed } from './helpers/http.js';
import { acceptedSockets, startLb } from './helpers/lb.js';

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

/** One request on `socket`, read up to the end of its response (its Content-Length body). */
async function exchangeOn(socket: Socket, bytes: string): Promise<string> {
  socket.setEncoding('latin1');
  let data = '';
  const whole = (): boolean => {
    const end = data.indexOf('\r\n\r\n');
    if (end < 0) return false;
    const length = /\r\ncontent-length: *(\d+)/i.exec(data.slice(0, end));
    return length !== null && data.length >= end + 4 + Number(length[1]);
  };
  const done = new Promise<void>((resolve, reject) => {
    const onData = (chunk: string): void => {
      data += chunk;
      if (whole()) { socket.off('data', onData); socket.off('close', onClose); resolve(); }
    };
    const onClose = (): void => reject(new Error(`closed before a whole response: ${JSON.stringify(data)}`));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
  socket.write(bytes);
  await done;
  return data;
}

test('a chunked request body leaves the connection reading: the next request is answered, and the client\'s FIN closes it (was CLOSE-WAIT until CLIENT_IDLE_TIMEOUT)', { timeout: 120_000 }, async (t) => {
  const backend = await startBackend('b', (req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => res.end(`${req.method} ${body}`));
  });
  t.after(() => backend.close());
  // The idle timeout far away: it would close what a missed FIN leaves open, and hide it.
  const lb = await startLb({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', CLIENT_IDLE_TIMEOUT: '10m' });
  t.after(() => lb.stop());
  const chunked = 'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
  const sized = 'POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello';
  const clients: Socket[] = [];
  for (let i = 0; i < 5; i++) {
    const socket = await rawConnect(lb.port);
    socket.on('error', () => undefined);
    clients.push(socket);
    assert.match(await exchangeOn(socket, chunked), /^HTTP\/1\.1 200 [\s\S]*POST hello$/);
    // The same connection goes on: a chunked body, then one by Content-Length, then none.
    assert.match(await exchangeOn(socket, chunked), /POST hello$/);
    assert.match(await exchangeOn(socket, sized), /POST hello$/);
    assert.match(await exchangeOn(socket, 'GET /g HTTP/1.1\r\nHost: x\r\n\r\n'), /GET $/);
  }
  const peers = clients.map((socket) => socket.localPort!);
  // A socket missed by one read of the kernel's table is seen by the next: 20 reads at most.
  let open = acceptedSockets(lb.port, peers).established;
  for (let i = 0; i < 20 && open !== 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    open = acceptedSockets(lb.port, peers).established;
  }
  assert.equal(open, 5, 'five connections open, kept alive');
  for (const socket of clients) socket.end();
  // The balancer closes its side once it reads each FIN: poll the kernel's table, 200 × 100 ms at most.
  let left = acceptedSockets(lb.port, peers);
  for (let i = 0; i < 200 && left.established + left.closeWait > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    left = acceptedSockets(lb.port, peers);
  }
  assert.deepEqual(left, { established: 0, closeWait: 0 }, 'no client socket left open');
  await Promise.all(clients.map(whenClosed));
});
