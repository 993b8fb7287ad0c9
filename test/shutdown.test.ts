import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { rawConnect, whenClosed } from './helpers/http.js';
import { startBackend } from './helpers/backend.js';
import { startLb } from './helpers/lb.js';

function held() {
  const releases: (() => void)[] = [];
  return {
    handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => {
      if (req.url === '/health') { res.end('ok'); return; }
      if (req.url === '/fast') { res.end('fast'); return; }
      releases.push(() => res.end('done'));
    },
    releaseAll: () => { for (const r of releases.splice(0)) r(); },
  };
}

test('SIGTERM: stop accepting, close idle connections, finish in-flight requests with Connection: close, exit 0', async (t) => {
  const hold = held();
  const backend = await startBackend('b', hold.handler);
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', HEALTH_CHECK_INTERVAL: '20ms' });

  // An idle keep-alive client: one request done, connection left open.
  const idle = await rawConnect(lb.port);
  idle.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(idle, 'data');
  const idleClosed = whenClosed(idle);

  // A request in flight, held by the backend.
  const inflight = request(`${lb.url}/slow`, { agent: false }).end();
  const response = once(inflight, 'response') as Promise<[IncomingMessage]>;
  await backend.nextRequest();

  lb.proc.kill('SIGTERM');
  await lb.waitForLog((l) => l.msg === 'shutting down');
  await idleClosed; // closed at once, while the other request is still running
  const checksAtDrain = backend.requests.filter((r) => r.url === '/health').length;

  const refused = connect(lb.port, '127.0.0.1');
  const [err] = await once(refused, 'error') as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ECONNREFUSED', 'the listener stopped accepting');

  hold.releaseAll();
  const [res] = await response;
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers.connection, 'close');
  let body = '';
  for await (const c of res) body += c;
  assert.equal(body, 'done');

  assert.equal(await lb.exited, 0);
  assert.ok(backend.requests.filter((r) => r.url === '/health').length <= checksAtDrain + 1, 'health checks stopped');
  assert.equal((await lb.waitForLog((l) => l.msg === 'stopped')).cut, 0);
});

test('requests still running at SHUTDOWN_TIMEOUT are answered 503 (or cut), counted, and each gets its access line', async (t) => {
  const hold = held();
  const backend = await startBackend('b', (req, res) => {
    if (req.url === '/started') { res.writeHead(200); res.write('partial'); return; } // a response that never ends
    hold.handler(req, res);
  });
  t.after(() => { hold.releaseAll(); return backend.close(); });
  const lb = await startLb({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', SHUTDOWN_TIMEOUT: '300ms' });
  const clients = [await rawConnect(lb.port), await rawConnect(lb.port)];
  const answers = clients.map((c) => { let data = ''; c.setEncoding('latin1'); c.on('data', (d: string) => { data += d; }); return () => data; });
  clients[0]!.write('GET /slow HTTP/1.1\r\nHost: x\r\nX-Request-Id: waiting\r\n\r\n');
  clients[1]!.write('GET /started HTTP/1.1\r\nHost: x\r\nX-Request-Id: streaming\r\n\r\n');
  await backend.nextRequest();
  if (backend.requests.filter((r) => r.url !== '/health').length < 2) await backend.nextRequest();
  await once(clients[1]!, 'data');
  const closed = clients.map(whenClosed);
  const signalled = performance.now();
  lb.proc.kill('SIGTERM');
  assert.equal(await lb.exited, 0);
  const elapsed = performance.now() - signalled;
  await Promise.all(closed);
  assert.ok(elapsed >= 290, `exited after ${elapsed.toFixed(0)}ms`);
  const line = await lb.waitForLog((l) => l.msg === 'shutdown timeout reached: requests cut');
  assert.equal(line.cut, 2);
  assert.match(answers[0]!(), /^HTTP\/1\.1 503 /, 'the request still waiting is answered');
  assert.match(answers[0]!(), /\r\nconnection: close\r\n/i);
  const lines = ['waiting', 'streaming'].map((id) => lb.logs.find((l) => l.msg === 'request' && l.reqId === id));
  assert.deepEqual(lines.map((l) => [l?.status, l?.error]), [[503, 'LB_ERR_SHUTDOWN'], [200, 'LB_ERR_SHUTDOWN']]);
  assert.equal(lb.logs.filter((l) => l.code === 'LB_ERR_INTERNAL' || l.error === 'LB_ERR_INTERNAL').length, 0);
});

test('a second signal exits at once', async (t) => {
  const hold = held();
  const backend = await startBackend('b', hold.handler);
  t.after(() => { hold.releaseAll(); return backend.close(); });
  const lb = await startLb({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', SHUTDOWN_TIMEOUT: '1h' });
  const client = await rawConnect(lb.port);
  client.on('error', () => undefined);
  client.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
  await backend.nextRequest();
  lb.proc.kill('SIGINT');
  await lb.waitForLog((l) => l.msg === 'shutting down');
  lb.proc.kill('SIGINT');
  assert.equal(await lb.exited, 130);
  await lb.waitForLog((l) => l.msg === 'second signal: exiting now');
});
