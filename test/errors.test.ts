import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get, whenClosed } from './helpers/http.js';
import { startBackend } from './helpers/backend.js';
import { until } from './helpers/in-process.js';
import { startInProcess, type InProcessLb } from './helpers/in-process-lb.js';

function assertLoggedWithId(lb: InProcessLb, id: string | string[] | undefined, msg: RegExp) {
  return lb.waitForLog((l) => l.reqId === id && typeof l.msg === 'string' && msg.test(l.msg));
}

test('no healthy backend: 503 with Retry-After and a short plain-text body', async (t) => {
  const dead = await startBackend('dead', undefined, { port: 'dedicated' });
  await dead.close();
  const lb = await startInProcess({ BACKENDS: dead.url }, t);
  const res = await get(lb.url);
  assert.equal(res.status, 503);
  assert.match(String(res.headers['retry-after']), /^\d+$/);
  assert.match(String(res.headers['content-type']), /^text\/plain/);
  assert.equal(res.body, '503 Service Unavailable\n');
  await assertLoggedWithId(lb, res.headers['x-request-id'], /no backend available/);
});

test('with retries off: connection refused → 502, reset before a response → 502, each logged with the request id', async (t) => {
  const gone = await startBackend('gone', undefined, { port: 'dedicated' });
  const resetter = await startBackend('resetter', (req, res) => {
    if (req.url === '/health') res.end('ok');
    else req.socket.destroy();
  });
  t.after(() => resetter.close());
  const lb = await startInProcess({ BACKENDS: `${gone.url},${resetter.url}`, HEALTH_CHECK_PATH: '/health', RETRIES: '0', OUTLIER_CONSECUTIVE_FAILURES: '0' }, t);
  await gone.close(); // healthy at start-up, dead now: the next pick finds the port closed

  const refused = await get(lb.url);
  assert.equal(refused.status, 502);
  assert.equal(refused.body, '502 Bad Gateway\n');
  const line = await assertLoggedWithId(lb, refused.headers['x-request-id'], /connection refused/);
  assert.equal(line.backend, `127.0.0.1:${gone.port}`);

  const reset = await get(lb.url);
  assert.equal(reset.status, 502);
  await assertLoggedWithId(lb, reset.headers['x-request-id'], /reset/);

  // Nothing leaked: 100 more failures leave the client connections where they were, and no
  // request, attempt or backend connection behind.
  const baseline = (await lb.lb.processCounts()).connections;
  for (let i = 0; i < 100; i++) assert.equal((await get(lb.url)).status, 502);
  // Counts settle as sockets close, a turn or a few after the last response.
  const upstream = () => lb.lb.pool.backends.map((b) => lb.lb.connections(b));
  await until(() => lb.lb.inFlight === 0 && lb.lb.attempts.active === 0 && upstream().every((c) => c.busy === 0), 'nothing in flight');
  const after = (await lb.lb.processCounts()).connections;
  assert.ok(after <= baseline + 2, `client connections: ${baseline} before, ${after} after`);
  assert.deepEqual({ ...lb.lb.attempts }, { active: 0, retrying: 0 });
  await until(() => upstream().reduce((n, c) => n + c.open, 0) <= 2, `backend connections left open: ${JSON.stringify(upstream())}`);
});

test('no response headers within PROXY_TIMEOUT → 504 within that time, and the upstream is closed', async (t) => {
  const silent = await startBackend('silent', (req, res) => { if (req.url === '/health') res.end('ok'); });
  t.after(() => silent.close());
  const lb = await startInProcess({ BACKENDS: silent.url, HEALTH_CHECK_PATH: '/health', PROXY_TIMEOUT: '300ms' }, t);

  const started = performance.now();
  const pending = get(lb.url);
  const upstreamReq = await silent.nextRequest();
  const upstreamClosed = whenClosed(upstreamReq.socket);
  const res = await pending;
  const elapsed = performance.now() - started;
  assert.equal(res.status, 504);
  assert.equal(res.body, '504 Gateway Timeout\n');
  assert.ok(elapsed >= 290, `answered after ${elapsed}ms, not before PROXY_TIMEOUT`);
  await upstreamClosed; // the balancer gave up on the upstream request rather than leaving it open
  await assertLoggedWithId(lb, res.headers['x-request-id'], /no response from backend within 300ms/);
});
