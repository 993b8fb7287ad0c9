import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import { get } from './helpers/http.js';
import { startBackends } from './helpers/backend.js';
import { startLb } from './helpers/lb.js';

test('WORKERS=2: two processes share the port and round robin stays even across them', async (t) => {
  const backends = await startBackends(t);
  const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', WORKERS: '2' });
  t.after(() => lb.stop());
  assert.equal((await lb.waitForLog((l) => l.msg === 'listening')).workers, 2);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 300; i++) {
    const body = (await get(lb.url)).body; // a new connection each time: the primary spreads them over the workers
    counts[body] = (counts[body] ?? 0) + 1;
  }
  for (const name of ['a', 'b', 'c']) assert.ok(Math.abs(counts[name]! - 100) <= 10, JSON.stringify(counts));
  await lb.waitForLog(() => lb.logs.filter((l) => l.msg === 'request').length >= 300);
  const pids = new Set(lb.logs.filter((l) => l.msg === 'request').map((l) => l.pid));
  assert.equal(pids.size, 2, 'both workers served');
});

test('a worker that dies is replaced and logged; the others keep serving', async (t) => {
  const backends = await startBackends(t);
  const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', WORKERS: '2' });
  t.after(() => lb.stop());
  await lb.waitForLog((l) => l.msg === 'listening');
  const victim = lb.logs.find((l) => l.msg === 'worker started' && l.worker === 0)!;
  process.kill(victim.workerPid as number, 'SIGKILL');
  const died = await lb.waitForLog((l) => l.msg === 'worker died: starting a new one');
  assert.equal(died.worker, 0);
  assert.equal(died.signal, 'SIGKILL');
  for (let i = 0; i < 20; i++) assert.equal((await get(lb.url)).status, 200, 'served while the worker is replaced');
  const replaced = await lb.waitForLog((l) => l.msg === 'worker started' && l.worker === 0 && l.workerPid !== victim.workerPid);
  assert.notEqual(replaced.workerPid, victim.workerPid);
  for (let i = 0; i < 20; i++) assert.equal((await get(lb.url)).status, 200);
});

test('the primary\'s health checks are the one source of truth: a backend marked down is skipped by every worker', async (t) => {
  let healthy = true;
  const backends = await startBackends(t, (req, res, backend) => {
    res.statusCode = req.url === '/health' && backend.name === 'b' && !healthy ? 503 : 200;
    res.end(backend.name);
  });
  const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', HEALTH_CHECK_INTERVAL: '100ms', WORKERS: '2', LOG_LEVEL: 'debug' });
  t.after(() => lb.stop());
  await lb.waitForLog((l) => l.msg === 'listening');
  const primary = lb.logs.find((l) => l.msg === 'listening')!.pid;
  healthy = false;
  await lb.waitForLog((l) => l.msg === 'backend is down' && l.pid === primary);
  // Every worker has applied the primary's verdict.
  await lb.waitForLog(() => new Set(lb.logs.filter((l) => l.msg === 'health update applied' && l.healthy === false).map((l) => l.pid)).size === 2);
  assert.equal(lb.logs.filter((l) => l.msg === 'backend is down').length, 1, 'checked once, by the primary');
  for (let i = 0; i < 30; i++) assert.notEqual((await get(lb.url)).body, 'b');
  const checks = backends[1]!.requests.filter((r) => r.url === '/health').length;
  assert.ok(checks > 0);
});

test('graceful shutdown drains every worker', async (t) => {
  const releases: (() => void)[] = [];
  let allHeld!: () => void;
  const held = new Promise<void>((resolve) => { allHeld = resolve; });
  const backends = await startBackends(t, (req, res, backend) => {
    if (req.url === '/slow') {
      releases.push(() => res.end(`slow ${backend.name}`));
      if (releases.length === 4) allHeld();
      return;
    }
    res.end(backend.name);
  });
  const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', WORKERS: '2' });
  await lb.waitForLog((l) => l.msg === 'listening');
  const pending: Promise<[IncomingMessage]>[] = [];
  for (let i = 0; i < 4; i++) pending.push(once(request(`${lb.url}/slow`, { agent: false }).end(), 'response') as Promise<[IncomingMessage]>);
  await held;
  lb.proc.kill('SIGTERM');
  await lb.waitForLog(() => lb.logs.filter((l) => l.msg === 'shutting down').length >= 3); // the primary and both workers
  for (const release of releases) release();
  for (const p of pending) {
    const [res] = await p;
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers.connection, 'close');
    let body = '';
    for await (const c of res) body += c;
    assert.match(body, /^slow [abc]$/);
  }
  assert.equal(await lb.exited, 0);
  const stopped = lb.logs.filter((l) => l.msg === 'stopped');
  assert.equal(stopped.length, 3, 'both workers and the primary stopped cleanly');
});
