import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { Agent, request as undiciRequest } from 'undici';
import { get } from './helpers/http.js';
import { startBackend, startBackends, type Handler, type TestBackend } from './helpers/backend.js';
import { startInProcess } from './helpers/in-process-lb.js';
import { startLb, type LogLine } from './helpers/lb.js';
import { untilPrinted } from './helpers/process.js';

const served = (b: TestBackend): number => b.requests.filter((r) => r.url !== '/health').length;

/** Answers 503 to every request but /health, which says 200: the failure active checks miss. */
const sickHandler: Handler = (req, res, backend) => {
  req.resume();
  res.statusCode = req.url === '/health' ? 200 : 503;
  res.end(backend.name);
};

async function statuses(url: string, n: number, options: Parameters<typeof get>[1] = {}): Promise<Record<number, number>> {
  const counts: Record<number, number> = {};
  for (let i = 0; i < n; i++) {
    const { status } = await get(url, options);
    counts[status] = (counts[status] ?? 0) + 1;
  }
  return counts;
}

test('a backend that closed its listener but answers on old connections: the next check marks it down, and no client sees a 502 meanwhile', async (t) => {
  const backends = await startBackends(t, undefined, undefined, { port: 'dedicated' });
  const lb = await startInProcess({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', HEALTH_CHECK_INTERVAL: '300ms', HEALTH_CHECK_FALL: '1' }, t);
  assert.deepEqual(await statuses(lb.url, 30), { 200: 30 }, 'warm: every backend has kept-alive connections now');
  const closing = backends[1]!;
  closing.server.close(); // stops accepting; the connections it has keep answering (as a stopping server does)
  // Until the check sees it, requests that need a new connection to it are refused, then retried elsewhere.
  assert.deepEqual(await statuses(lb.url, 60), { 200: 60 });
  const down = await lb.waitForLog((l) => l.msg === 'backend is down' && l.url === closing.url);
  // A check opens its own connection: refused, or reset when it reached the listen queue just as the listener closed.
  assert.match(String(down.reason), /^connection (refused|reset)$/, 'a check opens its own connection');
  const before = served(closing);
  assert.deepEqual(await statuses(lb.url, 30), { 200: 30 });
  assert.equal(served(closing), before, 'nothing goes to it once it is down');
});

test('RETRIES: a connection refused is retried on another backend for any method, body included; each retry logged, the access line counts tries', async (t) => {
  const [alive] = await startBackends(t, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => res.end(`${req.method} ${body}`));
  }, ['alive']);
  const dead = await startBackend('dead', undefined, { port: 'dedicated' });
  const lb = await startInProcess({ BACKENDS: `${dead.url},${alive!.url}`, HEALTH_CHECK_PATH: '/health', OUTLIER_CONSECUTIVE_FAILURES: '0' }, t);
  await dead.close(); // up at the start-up check, gone now
  const res = await get(lb.url, { method: 'POST', body: 'payload', headers: { 'x-request-id': 'retried-post', 'content-type': 'text/plain' } });
  assert.deepEqual([res.status, res.body], [200, 'POST payload'], 'nothing reached the dead backend: even a POST goes elsewhere, its body intact');
  const retry = await lb.waitForLog((l) => l.msg === 'retrying on another backend' && l.reqId === 'retried-post');
  assert.deepEqual([retry.backend, retry.next, retry.code], [`127.0.0.1:${dead.port}`, `127.0.0.1:${alive!.port}`, 'LB_ERR_UPSTREAM_CONNECT']);
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.reqId === 'retried-post');
  assert.deepEqual([line.status, line.tries, line.backend], [200, 2, `127.0.0.1:${alive!.port}`]);
});

test('a POST that reached a backend is never retried; an idempotent request reset before any response is', async (t) => {
  const resetter = await startBackend('resetter', (req, res) => {
    if (req.url === '/health') { res.end('ok'); return; }
    req.on('data', () => undefined);
    req.on('end', () => req.socket.destroy()); // reads the whole request, then hangs up
  });
  t.after(() => resetter.close());
  const [good] = await startBackends(t, (req, res) => { req.resume(); req.on('end', () => res.end('good')); }, ['good']);
  const lb = await startInProcess({ BACKENDS: `${resetter.url},${good!.url}`, HEALTH_CHECK_PATH: '/health', OUTLIER_CONSECUTIVE_FAILURES: '0', STRATEGY: 'round-robin' }, t);
  // Round robin: the first request of each pair goes to the resetter.
  const post = await get(lb.url, { method: 'POST', body: 'x', headers: { 'x-request-id': 'post-once' } });
  assert.equal(post.status, 502);
  assert.equal(resetter.requests.filter((r) => r.method === 'POST').length, 1, 'the POST reached it once, and only once');
  assert.equal(served(good!), 0);
  await get(lb.url); // the second of the pair
  const getRes = await get(lb.url, { headers: { 'x-request-id': 'get-retried' } });
  assert.deepEqual([getRes.status, getRes.body], [200, 'good']);
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.reqId === 'get-retried');
  assert.equal(line.tries, 2);
});

test('RETRY_ON_STATUS: a 503 to an idempotent request is retried on another backend; a POST gets the backend\'s answer', async (t) => {
  const sick = await startBackend('sick', sickHandler);
  t.after(() => sick.close());
  const [good] = await startBackends(t, undefined, ['good']);
  const lb = await startInProcess({ BACKENDS: `${sick.url},${good!.url}`, HEALTH_CHECK_PATH: '/health', OUTLIER_CONSECUTIVE_FAILURES: '0' }, t);
  assert.deepEqual(await statuses(lb.url, 20), { 200: 20 });
  assert.equal(served(sick), 10, 'every other request went to it first');
  const posts = await statuses(lb.url, 4, { method: 'POST', body: 'x' });
  assert.deepEqual(posts, { 200: 2, 503: 2 }, 'a POST with a body is relayed as answered');
});

test('RETRY_BUDGET: with every backend failing, the backends see about 1.2× the requests, not 3×', async (t) => {
  const backends = await startBackends(t, sickHandler);
  const lb = await startInProcess({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', OUTLIER_CONSECUTIVE_FAILURES: '0' }, t);
  const agent = new Agent({ connections: 40 });
  t.after(() => agent.close());
  const clients = 40;
  const perClient = 25;
  await Promise.all(Array.from({ length: clients }, async () => {
    for (let i = 0; i < perClient; i++) {
      const res = await undiciRequest(lb.url, { dispatcher: agent });
      await res.body.dump();
      assert.equal(res.statusCode, 503);
    }
  }));
  const sent = clients * perClient;
  const seen = backends.reduce((n, b) => n + served(b), 0);
  t.diagnostic(`${sent} client requests, ${seen} backend requests (${(seen / sent).toFixed(2)}×); without a budget up to ${3 * sent}`);
  assert.ok(seen <= sent * 1.3 + 3 * 2, `${seen} backend requests for ${sent}`);
  assert.ok(seen > sent, 'some were retried');
  await lb.waitForLog((l) => l.msg === 'not retried: retry budget exhausted');
});

test('outlier ejection: a backend that answers 503 to everything but its health check costs no client a 503, and sees only the failures that eject it', async (t) => {
  const sick = await startBackend('sick', sickHandler);
  t.after(() => sick.close());
  const good = await startBackends(t, undefined, ['a', 'b']);
  const lb = await startInProcess({ BACKENDS: [sick, ...good].map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health' }, t);
  assert.deepEqual(await statuses(lb.url, 100), { 200: 100 });
  assert.equal(served(sick), 5, 'OUTLIER_CONSECUTIVE_FAILURES, then no more');
  const ejected = lb.logs.filter((l) => l.msg === 'backend ejected');
  assert.equal(ejected.length, 1);
  assert.deepEqual([ejected[0]!.backend, ejected[0]!.reason, ejected[0]!.forMs], [`127.0.0.1:${sick.port}`, 'status 503', 30_000]);
});

test('an ejected backend returns when its time is up, and is ejected for longer the next time; never more than OUTLIER_MAX_EJECTED of the pool', async (t) => {
  // Two backends failing like sickHandler until healed; whichever is ejected first, the other is healed.
  const failing = new Set(['sick', 'sick2']);
  const switchable: Handler = (req, res, backend) => {
    req.resume();
    res.statusCode = req.url !== '/health' && failing.has(backend.name) ? 503 : 200;
    res.end(backend.name);
  };
  const sick = await startBackend('sick', switchable);
  const sick2 = await startBackend('sick2', switchable);
  t.after(() => Promise.all([sick.close(), sick2.close()]));
  const [good] = await startBackends(t, undefined, ['good']);
  const lb = await startInProcess({
    BACKENDS: `${sick.url}|id=sick,${sick2.url}|id=sick2,${good!.url}|id=good`, HEALTH_CHECK_PATH: '/health',
    OUTLIER_EJECTION_TIME: '300ms', OUTLIER_CONSECUTIVE_FAILURES: '2', OUTLIER_MAX_EJECTED: '50%',
  }, t);
  // Three backends, 50%: one ejected at a time, whichever fails first.
  assert.deepEqual(await statuses(lb.url, 30), { 200: 30 });
  const first = await lb.waitForLog((l) => l.msg === 'backend ejected');
  // While one is out, the other sick one stays: half the pool is out already. (Once the first is
  // back, 300 ms on, the other may go: a busy machine can take that long over these requests.)
  assert.equal(mostEjectedAtOnce(lb.logs), 1, 'never both sick ones out at once');
  assert.equal(first.forMs, 300);
  failing.delete(first.backend === 'sick' ? 'sick2' : 'sick');
  await lb.waitForLog((l) => l.msg === 'backend returned' && l.backend === first.backend);
  // Traffic finds it failing again: ejected again, for twice as long.
  for (let i = 0; i < 200 && lb.logs.filter((l) => l.msg === 'backend ejected' && l.backend === first.backend).length < 2; i++) await get(lb.url);
  const second = lb.logs.filter((l) => l.msg === 'backend ejected' && l.backend === first.backend)[1];
  assert.equal(second?.forMs, 600);
  assert.equal(mostEjectedAtOnce(lb.logs), 1);
});

/** The most backends out at once, by the order of the ejection and return lines in the log. */
function mostEjectedAtOnce(logs: readonly LogLine[]): number {
  const out = new Set<unknown>();
  let most = 0;
  for (const line of logs) {
    if (line.msg === 'backend ejected') most = Math.max(most, out.add(line.backend).size);
    else if (line.msg === 'backend returned') out.delete(line.backend);
  }
  return most;
}

/** A backend that holds every request until told; `arrived(n)` resolves once n requests (health checks aside) have come. */
async function holdingBackend(t: { after(fn: () => unknown): void }, name = 'held') {
  const held: { path: string; release: () => void }[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let count = 0;
  const backend = await startBackend(name, (req, res) => {
    if (req.url === '/health') { res.end(); return; }
    held.push({ path: req.url ?? '', release: () => res.end(`${name} ${req.url}`) });
    count++;
    for (const w of [...waiters]) if (count >= w.n) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  });
  t.after(() => { for (const h of held) h.release(); return backend.close(); });
  return {
    backend,
    held,
    arrived: (n: number): Promise<void> => (count >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

test('BACKEND_MAX_REQUESTS: a full backend makes requests wait in a FIFO queue, served in order as it frees up; a full queue is 503 at once', async (t) => {
  const { backend, held, arrived } = await holdingBackend(t);
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', BACKEND_MAX_REQUESTS: '1', QUEUE_SIZE: '2', QUEUE_TIMEOUT: '1h', LOG_LEVEL: 'debug' }, t);
  const first = get(`${lb.url}/1`);
  await arrived(1);
  const queued = [get(`${lb.url}/2`), get(`${lb.url}/3`)];
  await lb.waitForLog(() => lb.logs.filter((l) => l.msg === 'request queued').length === 2);
  const full = await get(`${lb.url}/4`);
  assert.equal(full.status, 503);
  assert.match(String(full.headers['retry-after']), /^\d+$/);
  assert.equal(held.length, 1, 'never more than BACKEND_MAX_REQUESTS in flight');
  held[0]!.release();
  await arrived(2);
  assert.deepEqual(held.map((h) => h.path), ['/1', '/2'], 'the first in the queue goes first');
  held[1]!.release();
  await arrived(3);
  held[2]!.release();
  const answers = await Promise.all([first, ...queued]);
  assert.deepEqual(answers.map((a) => [a.status, a.body]), [[200, 'held /1'], [200, 'held /2'], [200, 'held /3']]);
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/4');
  assert.equal(line.error, 'LB_ERR_QUEUE_FULL');
});

test('QUEUE_TIMEOUT: a request that waits too long for a backend with room gets 503; one whose client leaves is dropped from the queue', async (t) => {
  const { backend, held, arrived } = await holdingBackend(t);
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', BACKEND_MAX_REQUESTS: '1', QUEUE_TIMEOUT: '300ms' }, t);
  const first = get(`${lb.url}/1`);
  await arrived(1);
  const waited = await get(`${lb.url}/2`);
  assert.equal(waited.status, 503);
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/2');
  assert.equal(line.error, 'LB_ERR_QUEUE_TIMEOUT');
  held[0]!.release();
  assert.equal((await first).status, 200);
  assert.equal(held.length, 1, 'the request that timed out never went to the backend');
});

test('recovery in seconds: a backend not yet listening at start-up is taken in once it is (HEALTH_CHECK_DOWN_INTERVAL); one lost check is not an outage', async (t) => {
  const late = await startBackend('late', undefined, { port: 'dedicated' });
  const port = late.port;
  await late.close();
  let lose = 0;
  const flaky = await startBackend('flaky', (req, res, b) => {
    if (req.url === '/health' && lose > 0) { lose--; req.socket.destroy(); return; } // one check lost
    res.end(b.name);
  });
  t.after(() => flaky.close());
  const lb = await startInProcess({ BACKENDS: `http://127.0.0.1:${port},${flaky.url}`, HEALTH_CHECK_PATH: '/health', HEALTH_CHECK_INTERVAL: '200ms', HEALTH_CHECK_DOWN_INTERVAL: '100ms' }, t);
  assert.equal((await lb.waitForLog((l) => l.msg === 'backend is down' && l.url === `http://127.0.0.1:${port}`)).reason, 'connection refused');
  // It comes up two seconds... or two hundred milliseconds later: rechecked every 100 ms, up after HEALTH_CHECK_RISE (2) passes.
  const revived = createServer((_req, res) => res.end('late'));
  revived.listen(port, '127.0.0.1');
  await once(revived, 'listening');
  t.after(() => { revived.closeAllConnections(); revived.close(); });
  await lb.waitForLog((l) => l.msg === 'backend is up' && l.url === `http://127.0.0.1:${port}` && l.time as number > 0);
  const bodies = new Set<string>();
  for (let i = 0; i < 10; i++) bodies.add((await get(lb.url)).body);
  assert.deepEqual([...bodies].sort(), ['flaky', 'late']);
  // One lost check of an up backend (HEALTH_CHECK_FALL 3): it stays up, and is checked again at once.
  const before = flaky.requests.filter((r) => r.url === '/health').length;
  lose = 1;
  while (flaky.requests.filter((r) => r.url === '/health').length < before + 4) await once(flaky.server, 'request');
  assert.equal(lb.logs.filter((l) => l.msg === 'backend is down' && l.url === flaky.url).length, 0, 'never marked down');
});

test('a rolling restart costs no client an error: a backend killed and started again on its port 2 s later', async (t) => {
  const backends = await startBackends(t, undefined, undefined, { port: 'dedicated' });
  const victim = backends[1]!;
  const lb = await startInProcess({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', HEALTH_CHECK_INTERVAL: '200ms', SLOW_START: '1s' }, t);
  const agent = new Agent({ connections: 4 });
  t.after(() => agent.close());
  const failures: string[] = [];
  const seen: string[] = [];
  let running = true;
  const clients = Array.from({ length: 4 }, async () => {
    for (let i = 0; running && i < 100_000; i++) {
      const res = await undiciRequest(lb.url, { dispatcher: agent }).catch((err: Error) => ({ statusCode: 0, body: { text: async () => err.message } }));
      const body = await res.body.text();
      if (res.statusCode !== 200) failures.push(`${res.statusCode} ${body}`);
      else seen.push(body);
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  await victim.close(); // the process is gone: its port refuses, its connections are closed
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const restarted = createServer((req, res) => { req.resume(); res.end('b again'); });
  restarted.listen(victim.port, '127.0.0.1');
  await once(restarted, 'listening');
  t.after(() => { restarted.closeAllConnections(); restarted.close(); });
  // The checks saw it down and up again: its ejection (it refused requests while it was gone) ends.
  const down = await lb.waitForLog((l) => l.msg === 'backend is down' && l.url === victim.url);
  await lb.waitForLog((l) => l.msg === 'backend is up' && l.url === victim.url && lb.logs.indexOf(l) > lb.logs.indexOf(down));
  // Bounded: it must get traffic again once it is up and warm.
  for (let i = 0; i < 400 && !seen.includes('b again'); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  running = false;
  await Promise.all(clients);
  t.diagnostic(`${seen.length} requests, ${failures.length} errors; ${seen.filter((s) => s === 'b again').length} to the restarted backend`);
  assert.deepEqual(failures, []);
  assert.ok(seen.includes('b again'), 'the restarted backend gets traffic again');
});

test('CONNECT_TIMEOUT: a backend that does not accept connections in time is a connect failure, retried elsewhere', async (t) => {
  const [good] = await startBackends(t, undefined, ['good']);
  const stuck = await startBackend('stuck', undefined, { port: 'dedicated' });
  const lb = await startInProcess({ BACKENDS: `${stuck.url},${good!.url}`, HEALTH_CHECK_PATH: '/health', CONNECT_TIMEOUT: '300ms', PROXY_TIMEOUT: '1h', OUTLIER_CONSECUTIVE_FAILURES: '0' }, t);
  await stuck.close();
  // Its port taken again by a process that never accepts, its queue of pending connections full: a connect hangs.
  const blackhole = spawn(process.execPath, ['-e', `
    const server = require('node:net').createServer().listen({ port: ${stuck.port}, host: '127.0.0.1', backlog: 1 }, () => {
      require('node:fs').writeSync(1, 'ready\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
    });
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => blackhole.kill('SIGKILL'));
  await untilPrinted(blackhole, (text) => text.includes('ready'));
  const fillers = Array.from({ length: 4 }, () => connect(stuck.port, '127.0.0.1').on('error', () => undefined));
  t.after(() => { for (const f of fillers) f.destroy(); });
  const res = await get(lb.url, { headers: { 'x-request-id': 'slow-connect' } });
  assert.deepEqual([res.status, res.body], [200, 'good']);
  const retry = await lb.waitForLog((l) => l.msg === 'retrying on another backend' && l.reqId === 'slow-connect');
  assert.deepEqual([retry.code, retry.reason], ['LB_ERR_UPSTREAM_TIMEOUT', 'connect timeout']);
});

test('WORKERS=2: each worker ejects the sick backend by itself, reports it to the primary, and no client sees a 503', async (t) => {
  const sick = await startBackend('sick', sickHandler);
  t.after(() => sick.close());
  const good = await startBackends(t, undefined, ['a', 'b']);
  const lb = await startLb({ BACKENDS: [sick, ...good].map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', WORKERS: '2' });
  t.after(() => lb.stop());
  assert.equal((await lb.waitForLog((l) => l.msg === 'listening')).workers, 2);
  // A new connection each time: the primary spreads them over both workers.
  assert.deepEqual(await statuses(lb.url, 200), { 200: 200 });
  const reports = lb.logs.filter((l) => l.msg === 'a worker ejected a backend');
  assert.deepEqual(new Set(reports.map((l) => l.worker)).size, 2, 'both workers ejected it and told the primary');
  assert.ok(reports.every((l) => l.backend === `127.0.0.1:${sick.port}`));
  assert.ok(served(sick) <= 2 * 5, `at most OUTLIER_CONSECUTIVE_FAILURES per worker reached it (${served(sick)})`);
});
