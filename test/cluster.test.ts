import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { get } from './helpers/http.js';
import { startBackends, type TestBackend } from './helpers/backend.js';
import { startLb, type LogLine } from './helpers/lb.js';

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
  // Only b's verdict counts: on a busy machine a check of a may time out too, rightly.
  assert.equal(lb.logs.filter((l) => l.msg === 'backend is down' && l.backend === `127.0.0.1:${backends[1]!.port}`).length, 1, 'checked once, by the primary');
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

const CONTROL = fileURLToPath(new URL('./fixtures/cluster-control.js', import.meta.url));

/** A two-worker balancer embedded through the library, and a way to change its pool. */
async function controlled(t: { after(fn: () => unknown): void }, backends: readonly TestBackend[], env: Record<string, string> = {}) {
  const lb = await startLb({ LB_CONTROL: '1', WORKERS: '2', BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', ...env }, { script: CONTROL });
  t.after(() => lb.stop());
  // Commands are answered in order, so the n-th answer is the n-th command's.
  let sent = 0;
  const control = (command: Record<string, unknown>): Promise<LogLine> => {
    const n = sent++;
    lb.proc.stdin!.write(`${JSON.stringify(command)}\n`);
    const done = (): LogLine[] => lb.logs.filter((l) => l.msg === 'control done');
    return lb.waitForLog(() => done().length > n).then(() => done()[n]!);
  };
  return { lb, control };
}

async function spread(url: string, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const { body } = await get(url); // a new connection each time: both workers serve
    counts[body] = (counts[body] ?? 0) + 1;
  }
  return counts;
}

test('WORKERS=2 through the library: backends added, re-weighted, put in maintenance and removed reach every worker before the call returns', async (t) => {
  const [a, b, c] = await startBackends(t);
  const { lb, control } = await controlled(t, [a!, b!], { STRATEGY: 'weighted-round-robin', LOG_LEVEL: 'debug' });
  assert.deepEqual(Object.keys(await spread(lb.url, 20)).sort(), ['a', 'b']);
  const added = await control({ op: 'add', input: `${c!.url}|id=c` });
  assert.equal(added.result, 'c');
  // Health-checked by the primary first, then in every worker's rotation.
  await lb.waitForLog((l) => l.msg === 'backend is up' && l.backend === 'c');
  await lb.waitForLog(() => new Set(lb.logs.filter((l) => l.msg === 'health update applied' && l.backend === 'c').map((l) => l.pid)).size === 2);
  assert.deepEqual(Object.keys(await spread(lb.url, 30)).sort(), ['a', 'b', 'c']);
  await control({ op: 'weight', id: 'c', weight: 8 });
  const weighted = await spread(lb.url, 100);
  assert.ok(weighted.c! >= 70, `weight 8 of 10: ${JSON.stringify(weighted)}`);
  await control({ op: 'state', id: 'c', state: 'maintenance' });
  assert.deepEqual(Object.keys(await spread(lb.url, 20)).sort(), ['a', 'b']);
  const removed = await control({ op: 'remove', id: `127.0.0.1:${a!.port}` });
  assert.equal(removed.result, 'removed');
  assert.deepEqual(await spread(lb.url, 10), { b: 10 });
});

test('WORKERS=2: a removed backend finishes the request in flight on a worker; a restarted worker gets the current pool; counters survive a worker', async (t) => {
  const releases: (() => void)[] = [];
  const backends = await startBackends(t, (req, res, backend) => {
    if (req.url === '/hold') { releases.push(() => res.end(`held ${backend.name}`)); return; }
    res.end(backend.name);
  });
  const [a, b] = backends;
  // The primary's hand-off: a change it sends a worker goes down the same channel as the connections
  // it hands over after, so the next connection sees it (WORKER_LISTEN=reuseport's are the kernel's, and race it).
  const { lb, control } = await controlled(t, [a!, b!], { WORKER_LISTEN: 'shared' });
  await spread(lb.url, 20);
  const pending = once(request(`${lb.url}/hold`, { agent: false }).end(), 'response') as Promise<[IncomingMessage]>;
  const heldBy = await Promise.race([a!.nextRequest().then(() => a!), b!.nextRequest().then(() => b!)]);
  const removal = control({ op: 'remove', id: `127.0.0.1:${heldBy.port}` });
  const other = heldBy === a ? b! : a!;
  // Until stats show the request done, the primary keeps it (its workers stopped sending it anything at once).
  assert.deepEqual(await spread(lb.url, 10), { [other.name]: 10 });
  releases.shift()!();
  const [res] = await pending;
  let body = '';
  for await (const chunk of res) body += chunk;
  assert.deepEqual([res.statusCode, body], [200, `held ${heldBy.name}`]);
  await removal;
  const before = (await control({ op: 'stats' })).result as Record<string, { requests: number }>;
  const served = before[`127.0.0.1:${other.port}`]!.requests;
  assert.ok(served >= 20, `${served}`);
  // Kill a worker: its replacement starts from the primary's pool, and its counts stay in the totals.
  await lb.waitForLog(() => lb.logs.filter((l) => l.msg === 'worker started').length >= 2);
  const victim = lb.logs.find((l) => l.msg === 'worker started' && l.worker === 0)!;
  process.kill(victim.workerPid as number, 'SIGKILL');
  await lb.waitForLog((l) => l.msg === 'worker started' && l.worker === 0 && l.workerPid !== victim.workerPid);
  assert.deepEqual(await spread(lb.url, 10), { [other.name]: 10 }, 'the new worker has no removed backend');
  const after = (await control({ op: 'stats' })).result as Record<string, { requests: number }>;
  assert.ok(after[`127.0.0.1:${other.port}`]!.requests >= served, `${after[`127.0.0.1:${other.port}`]!.requests} ≥ ${served}`);
});

test('WORKERS=2: a sticky cookie from one worker is honoured by the other without STICKY_SECRET', async (t) => {
  const backends = await startBackends(t);
  const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', WORKERS: '2', STICKY_COOKIE: 'lb' });
  t.after(() => lb.stop());
  await lb.waitForLog((l) => l.msg === 'listening');
  const first = await get(lb.url);
  const cookie = String(first.headers['set-cookie']).split(';')[0]!;
  for (let i = 0; i < 30; i++) {
    const res = await get(lb.url, { headers: { cookie } });
    assert.equal(res.body, first.body, `request ${i}: pinned to ${first.body}`);
    assert.equal(res.headers['set-cookie'], undefined, 'the cookie was accepted, not replaced');
  }
  await lb.waitForLog(() => new Set(lb.logs.filter((l) => l.msg === 'request').map((l) => l.pid)).size === 2);
});

test('WORKERS=2 with two pools: the primary checks each pool and every worker applies each verdict to the pool it names; a reload adds and removes pools in the primary and in every worker', async (t) => {
  let otherDown = false;
  const backends = await startBackends(t, (req, res, backend) => {
    res.statusCode = req.url === '/health' && backend.name === 'x' && otherDown ? 503 : 200;
    res.end(backend.name);
  }, ['a', 'b', 'x', 'y']);
  const [a, b, x, y] = backends;
  const dir = mkdtempSync(join(tmpdir(), 'lb-cluster-pools-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'lb.json');
  const pools = (entries: Record<string, string>): string => JSON.stringify({ pools: Object.fromEntries(Object.entries(entries).map(([name, url]) => [name, { backends: [url], health: { path: '/health', interval: '100ms' } }])) });
  writeFileSync(file, pools({ other: `${x!.url}|id=x` }));
  const lb = await startLb({ BACKENDS: `${a!.url}|id=a,${b!.url}|id=b`, HEALTH_CHECK_PATH: '/health', WORKERS: '2', LOG_LEVEL: 'debug' }, { args: ['--config', file] });
  t.after(() => lb.stop());
  const listening = await lb.waitForLog((l) => l.msg === 'listening' && l.workers === 2);
  assert.equal(listening.pools, 2);
  const primary = listening.pid;
  const appliedBy = (pool: string, backend: string, healthy: boolean) => (): boolean =>
    new Set(lb.logs.filter((l) => l.msg === 'health update applied' && l.pool === pool && l.backend === backend && l.healthy === healthy).map((l) => l.pid)).size === 2;
  await lb.waitForLog(appliedBy('other', 'x', true));

  otherDown = true;
  const down = await lb.waitForLog((l) => l.msg === 'backend is down' && l.backend === 'x');
  assert.deepEqual([down.pool, down.pid], ['other', primary], 'checked by the primary, logged with its pool');
  await lb.waitForLog(appliedBy('other', 'x', false));
  // The default pool is untouched: its backends stay up, and (no route matching yet) it serves.
  assert.equal(lb.logs.filter((l) => l.msg === 'backend is down' && l.pool === undefined).length, 0);
  assert.deepEqual(Object.keys(await spread(lb.url, 10)).sort(), ['a', 'b']);

  // Pool other goes, pool third comes: each worker knows third before its health arrives.
  writeFileSync(file, pools({ third: `${y!.url}|id=y` }));
  lb.proc.kill('SIGHUP');
  const reloaded = await lb.waitForLog((l) => l.msg === 'configuration reloaded' && l.pid === primary && (l.changes as string[]).length > 0);
  assert.deepEqual([...(reloaded.changes as string[])].sort(), ['added pool third', 'removed pool other']);
  await lb.waitForLog(() => new Set(lb.logs.filter((l) => l.msg === 'configuration reloaded' && l.pid !== primary && (l.changes as string[]).includes('added pool third')).map((l) => l.pid)).size === 2);
  const up = await lb.waitForLog((l) => l.msg === 'backend is up' && l.backend === 'y');
  assert.deepEqual([up.pool, up.pid], ['third', primary]);
  await lb.waitForLog(appliedBy('third', 'y', true));
  assert.equal(lb.logs.filter((l) => l.msg === 'cannot apply a change from the primary').length, 0);
  assert.deepEqual(Object.keys(await spread(lb.url, 10)).sort(), ['a', 'b']);
});
