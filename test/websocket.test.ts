import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { get, whenClosed } from './helpers/http.js';
import { startBackend, type TestBackend } from './helpers/backend.js';
import { startInProcess, type InProcessLb } from './helpers/in-process-lb.js';
import { until } from './helpers/in-process.js';

interface WsBackend { backend: TestBackend; wss: WebSocketServer; handshakes: IncomingMessage[] }

/** An echo WebSocket backend; `/refuse` answers the handshake with 403; `/close-4001` closes at once. */
async function wsBackend(t: { after(fn: () => unknown): void }, name = 'ws'): Promise<WsBackend> {
  const backend = await startBackend(name);
  const handshakes: IncomingMessage[] = [];
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: true,
    handleProtocols: (protocols) => (protocols.has('chat.v1') ? 'chat.v1' : false),
    maxPayload: 64 * 1024 * 1024,
  });
  backend.server.on('upgrade', (req, socket, head) => {
    handshakes.push(req);
    if (req.url === '/refuse') {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nforbidden\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (req.url === '/close-4001') { ws.close(4001, 'backend says bye'); return; }
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      ws.on('close', (code, reason) => wss.emit('client-closed', code, reason.toString()));
    });
  });
  t.after(async () => { for (const c of wss.clients) c.terminate(); wss.close(); await backend.close(); });
  return { backend, wss, handshakes };
}

function connect(lb: InProcessLb, path = '/', protocols?: string[], options: ConstructorParameters<typeof WebSocket>[2] = {}): WebSocket {
  return new WebSocket(`ws://127.0.0.1:${lb.port}${path}`, protocols, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, ...options });
}


async function echoSetup(t: { after(fn: () => unknown): void }, env: Record<string, string> = {}) {
  const ws = await wsBackend(t);
  const lb = await startInProcess({ BACKENDS: ws.backend.url, HEALTH_CHECK_PATH: '/health', ...env }, t);
  return { ...ws, lb };
}

test('1,000 text and binary messages, one of 10 MiB, round-trip intact through the balancer', async (t) => {
  const { lb, handshakes } = await echoSetup(t);
  const client = connect(lb);
  await once(client, 'open');
  const sent: (string | Buffer)[] = [];
  for (let i = 0; i < 1000; i++) sent.push(i % 2 === 0 ? `text message ${i} ${'é'.repeat(i % 17)}` : Buffer.from([i & 255, (i >> 8) & 255, 0, 255, 7]));
  sent[500] = Buffer.alloc(10 * 1024 * 1024, 'x');
  (sent[500] as Buffer).writeUInt32BE(0xdeadbeef, 1234);
  const received: (string | Buffer)[] = [];
  const all = new Promise<void>((resolve) => {
    client.on('message', (data: Buffer, isBinary) => {
      received.push(isBinary ? Buffer.from(data) : data.toString('utf8'));
      if (received.length === sent.length) resolve();
    });
  });
  for (const m of sent) client.send(m, { binary: typeof m !== 'string' });
  await all;
  received.forEach((m, i) => assert.deepEqual(m, sent[i], `message ${i}`));
  client.close(1000);
  await once(client, 'close');
  const h = handshakes[0]!;
  assert.equal(h.headers['x-forwarded-for'], '127.0.0.1');
  assert.match(String(h.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  assert.equal(String(h.headers.connection).toLowerCase(), 'upgrade');
  assert.equal(h.headers.upgrade, 'websocket');
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.status === 101);
  assert.equal(line.reqId, h.headers['x-request-id']);
});

test('subprotocols and permessage-deflate pass through untouched', async (t) => {
  const { lb, handshakes } = await echoSetup(t);
  const client = connect(lb, '/', ['chat.v2', 'chat.v1'], { perMessageDeflate: true });
  await once(client, 'open');
  assert.equal(client.protocol, 'chat.v1');
  assert.match(client.extensions, /permessage-deflate/);
  const h = handshakes[0]!;
  assert.equal(h.headers['sec-websocket-protocol'], 'chat.v2,chat.v1', 'as the client sent it');
  assert.match(String(h.headers['sec-websocket-extensions']), /^permessage-deflate/);
  client.send('compressed '.repeat(1000));
  const [echo] = await once(client, 'message') as [Buffer];
  assert.equal(echo.toString(), 'compressed '.repeat(1000));
  client.close();
});

test('close codes propagate both ways', async (t) => {
  const { lb, wss } = await echoSetup(t);
  const byBackend = connect(lb, '/close-4001');
  const [code, reason] = await once(byBackend, 'close') as [number, Buffer];
  assert.equal(code, 4001);
  assert.equal(reason.toString(), 'backend says bye');

  const client = connect(lb);
  await once(client, 'open');
  const seen = once(wss, 'client-closed');
  client.close(4002, 'client says bye');
  const [backendCode, backendReason] = await seen as [number, string];
  assert.equal(backendCode, 4002);
  assert.equal(backendReason, 'client says bye');
});

test('a backend that refuses the upgrade with 403 is relayed as 403', async (t) => {
  const { lb } = await echoSetup(t);
  const client = connect(lb, '/refuse');
  client.on('error', () => undefined);
  const [, res] = await once(client, 'unexpected-response') as [unknown, IncomingMessage];
  assert.equal(res.statusCode, 403);
  let body = '';
  for await (const c of res) body += c;
  assert.equal(body, 'forbidden\n');
});

test('200 connect/close cycles leave no socket open on either side', async (t) => {
  const { lb, backend } = await echoSetup(t);
  const backendBefore = new Set(backend.sockets); // the health checker's kept-alive connection
  for (let i = 0; i < 200; i++) {
    const client = connect(lb);
    await once(client, 'open');
    if (i % 2 === 0) { client.close(); } else { client.terminate(); }
    await once(client, 'close');
  }
  // Closing is asynchronous on the far side: wait for the tunnels' backend sockets to close, and
  // for the balancer to have logged every tunnel's end (it logs once both sides are closed).
  await Promise.all([...backend.sockets].filter((s) => !backendBefore.has(s)).map(whenClosed));
  await lb.waitForLog(() => lb.logs.filter((l) => l.msg === 'request' && l.status === 101).length >= 200);
  assert.equal([...backend.sockets].filter((s) => !backendBefore.has(s)).length, 0);
  // The balancer's own counts: no client connection left open, nothing in flight, no busy backend connection.
  const left = async () => ({ clients: (await lb.lb.processCounts()).connections, inFlight: lb.lb.inFlight, busy: lb.lb.connections(lb.lb.pool.backends[0]!).busy });
  const none = { clients: 0, inFlight: 0, busy: 0 };
  await until(async () => JSON.stringify(await left()) === JSON.stringify(none), 'the tunnels counted out', 400).catch(() => undefined);
  assert.deepEqual(await left(), none);
  assert.equal((await get(`${lb.url}/health`)).status, 200, 'still serving');
});

test('an idle tunnel is closed after TUNNEL_IDLE_TIMEOUT', async (t) => {
  const { lb } = await echoSetup(t, { TUNNEL_IDLE_TIMEOUT: '300ms' });
  const client = connect(lb);
  await once(client, 'open');
  const opened = performance.now();
  await once(client, 'close');
  assert.ok(performance.now() - opened >= 250);
  await lb.waitForLog((l) => l.msg === 'tunnel idle timeout');
});

test('open tunnels count as in flight: they get SHUTDOWN_TIMEOUT, then are closed and counted', async (t) => {
  const ws = await wsBackend(t);
  const lb = await startInProcess({ BACKENDS: ws.backend.url, HEALTH_CHECK_PATH: '/health', SHUTDOWN_TIMEOUT: '400ms' }, t);
  const client = connect(lb);
  await once(client, 'open');
  const stopped = lb.stop(); // the graceful stop SIGTERM starts in the CLI
  await lb.waitForLog((l) => l.msg === 'shutting down');
  client.send('still here');
  const [echo] = await once(client, 'message') as [Buffer];
  assert.equal(echo.toString(), 'still here', 'the tunnel keeps working while draining');
  await once(client, 'close');
  assert.equal(await stopped, 0);
  assert.equal((await lb.waitForLog((l) => l.msg === 'shutdown timeout reached: requests cut')).cut, 1);
});

test('least-connections counts open tunnels', async (t) => {
  const a = await wsBackend(t, 'a');
  const b = await wsBackend(t, 'b');
  const lb = await startInProcess({ BACKENDS: `${a.backend.url},${b.backend.url}`, HEALTH_CHECK_PATH: '/health', STRATEGY: 'least-connections' }, t);
  const client = connect(lb);
  await once(client, 'open');
  const busy = a.handshakes.length === 1 ? 'a' : 'b';
  for (let i = 0; i < 4; i++) assert.notEqual((await get(lb.url)).body, busy);
  client.close();
});

test('WebSockets work through the TLS listener too (wss://)', async (t) => {
  const { createCa } = await import('./helpers/certs.js');
  const ca = createCa();
  const pair = ca.issue('wss', ['localhost']);
  const ws = await wsBackend(t);
  const lb = await startInProcess({ BACKENDS: ws.backend.url, HEALTH_CHECK_PATH: '/health', TLS_CERT_FILE: pair.certFile, TLS_KEY_FILE: pair.keyFile }, t);
  const client = new WebSocket(`wss://localhost:${lb.port}/`, { ca: ca.cert });
  await once(client, 'open');
  client.send('over tls');
  const [echo] = await once(client, 'message') as [Buffer];
  assert.equal(echo.toString(), 'over tls');
  assert.equal(ws.handshakes[0]!.headers['x-forwarded-proto'], 'https');
  client.close();
  await once(client, 'close');
});

test('an upgrade goes through the same chain and proxy: path prefix, request id, counters, access line with bytes each way', async (t) => {
  const ws = await wsBackend(t);
  const lb = await startInProcess({ BACKENDS: `${ws.backend.url}/api`, HEALTH_CHECK_PATH: '/health' }, t);
  const client = connect(lb, '/chat', undefined, { headers: { 'x-request-id': 'tunnel-1' } });
  await once(client, 'open');
  assert.equal(ws.handshakes[0]!.url, '/api/chat', 'the backend path prefix applies');
  assert.equal(ws.handshakes[0]!.headers['x-request-id'], 'tunnel-1');
  client.send('x'.repeat(1000));
  await once(client, 'message');
  client.close(1000);
  await once(client, 'close');
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.reqId === 'tunnel-1');
  assert.equal(line.status, 101);
  assert.equal(line.path, '/chat');
  assert.equal(line.backend, `127.0.0.1:${ws.backend.port}`);
  assert.ok((line.bytes as number) > 1000 && (line.bytesIn as number) > 1000, `bytes ${line.bytes}, bytesIn ${line.bytesIn}`);
});

test('an upgrade with no backend available gets the same 503, Retry-After and access line as any request', async (t) => {
  const dead = await startBackend('dead', undefined, { port: 'dedicated' });
  await dead.close();
  const lb = await startInProcess({ BACKENDS: dead.url, HEALTH_CHECK_INTERVAL: '7s' }, t);
  const plain = await get(lb.url);
  assert.equal(plain.status, 503);
  const client = connect(lb, '/', undefined, { headers: { 'x-request-id': 'no-backend' } });
  client.on('error', () => undefined);
  const [, res] = await once(client, 'unexpected-response') as [unknown, IncomingMessage];
  res.resume();
  assert.equal(res.statusCode, 503);
  assert.equal(res.headers['retry-after'], '7');
  assert.equal(res.headers['retry-after'], plain.headers['retry-after']);
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.reqId === 'no-backend');
  assert.deepEqual([line.status, line.error], [503, 'LB_ERR_NO_BACKEND']);
});
