import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { get } from './helpers/http.js';
import { startBackends, type TestBackend } from './helpers/backend.js';
import { runLb, startLb, type LogLine, type RunningLb } from './helpers/lb.js';
import { createCa } from './helpers/certs.js';
import { reusePortUnsupported } from '../src/app/worker-listen.js';

/** Why the reuseport tests cannot run on this Node.js (undefined: they can). */
const NO_REUSE_PORT = reusePortUnsupported();

/**
 * The processes that hold a listening socket on 127.0.0.1:`port`, each with how many (Linux
 * /proc): with reuseport every worker holds its own, with the hand-off the primary holds the one.
 */
function listeningOwners(port: number, pids: readonly number[]): Map<number, number> {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local && fields[3] === '0A') inodes.add(fields[9]!);
  }
  const owners = new Map<number, number>();
  for (const pid of pids) {
    let n = 0;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let target = '';
      try { target = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode !== undefined && inodes.has(inode)) n++;
    }
    if (n > 0) owners.set(pid, n);
  }
  return owners;
}

/** The pids of the workers alive now, by index, from the 'worker started' lines (the last of each index). */
function workerPids(lb: RunningLb): number[] {
  const byIndex = new Map<number, number>();
  for (const l of lb.logs) if (l.msg === 'worker started') byIndex.set(l.worker as number, l.workerPid as number);
  return [...byIndex.keys()].sort().map((i) => byIndex.get(i)!);
}

const requests = (lb: RunningLb): LogLine[] => lb.logs.filter((l) => l.msg === 'request');

test('WORKER_LISTEN=auto with reusePort: each worker binds its own socket on the port (the primary holds none) and serves the connections the kernel gives it', { skip: NO_REUSE_PORT }, async (t) => {
  const backends = await startBackends(t);
  const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', WORKERS: '2' });
  t.after(() => lb.stop());
  const listening = await lb.waitForLog((l) => l.msg === 'listening');
  assert.equal(listening.workerListen, 'reuseport');
  await lb.waitForLog(() => workerPids(lb).length === 2);
  const workers = workerPids(lb);
  const primary = listening.pid as number;
  assert.deepEqual([...listeningOwners(lb.port, [primary, ...workers])].sort(), workers.map((pid) => [pid, 1]).sort(), 'one socket per worker, none in the primary');
  // Each a new connection: the kernel hashes each to one worker's socket.
  for (let i = 0; i < 40; i++) assert.equal((await get(lb.url)).status, 200);
  await lb.waitForLog(() => requests(lb).length >= 40);
  assert.deepEqual(new Set(requests(lb).map((l) => l.pid)), new Set(workers), 'both workers served');
  // A reload keeps the sockets and the mode: PORT=0 is still what the configuration says.
  lb.proc.kill('SIGHUP');
  await lb.waitForLog(() => lb.logs.filter((l) => l.msg === 'configuration reloaded').length >= 3);
  assert.equal(lb.logs.filter((l) => l.msg?.startsWith('changed settings that take effect only after a restart') === true).length, 0);
  for (let i = 0; i < 10; i++) assert.equal((await get(lb.url)).status, 200);
  assert.deepEqual([...listeningOwners(lb.port, [primary, ...workers])].sort(), workers.map((pid) => [pid, 1]).sort());
});

test('WORKER_LISTEN=reuseport: a worker that dies is replaced by one that binds the same port again; the other serves meanwhile', { skip: NO_REUSE_PORT }, async (t) => {
  const backends = await startBackends(t);
  const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', WORKERS: '2', WORKER_LISTEN: 'reuseport' });
  t.after(() => lb.stop());
  const primary = (await lb.waitForLog((l) => l.msg === 'listening' && l.workerListen === 'reuseport')).pid as number;
  await lb.waitForLog(() => workerPids(lb).length === 2);
  const [victim, survivor] = workerPids(lb) as [number, number];
  process.kill(victim, 'SIGKILL');
  await lb.waitForLog((l) => l.msg === 'worker died: starting a new one' && l.worker === 0);
  // Its socket went with it: every new connection reaches the survivor.
  const before = requests(lb).length;
  for (let i = 0; i < 10; i++) assert.equal((await get(lb.url)).status, 200, 'served while the worker is replaced');
  await lb.waitForLog(() => requests(lb).length >= before + 10);
  const replaced = (await lb.waitForLog((l) => l.msg === 'worker started' && l.worker === 0 && l.workerPid !== victim)).workerPid as number;
  assert.equal((await lb.waitForLog((l) => l.msg === 'worker started' && l.workerPid === replaced)).port, lb.port);
  assert.deepEqual([...listeningOwners(lb.port, [primary, survivor, replaced])].sort(), [[survivor, 1], [replaced, 1]].sort());
  for (let i = 0; i < 40; i++) assert.equal((await get(lb.url)).status, 200);
  await lb.waitForLog(() => requests(lb).some((l) => l.pid === replaced));
});

test('WORKER_LISTEN=reuseport: SIGTERM drains the requests in flight on every worker, then all exit 0', { skip: NO_REUSE_PORT }, async (t) => {
  const releases: (() => void)[] = [];
  const backends = await startBackends(t, (req, res, backend) => {
    if (req.url === '/slow') { releases.push(() => res.end(`slow ${backend.name}`)); return; }
    res.end(backend.name);
  });
  const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', WORKERS: '2', WORKER_LISTEN: 'reuseport' });
  await lb.waitForLog((l) => l.msg === 'listening' && l.workerListen === 'reuseport');
  await lb.waitForLog(() => workerPids(lb).length === 2);
  const workers = workerPids(lb);
  // New connections until each worker holds at least one request (the kernel's hash decides which).
  const pending: Promise<[IncomingMessage]>[] = [];
  const holders = new Set<number>();
  for (let i = 0; i < 40 && holders.size < 2; i++) {
    const req = request(`${lb.url}/slow`, { agent: false }).end();
    pending.push(once(req, 'response') as Promise<[IncomingMessage]>);
    const [socket] = await once(req, 'socket') as [Socket];
    if (socket.localPort === undefined) await once(socket, 'connect');
    await waitHeld(backends, pending.length);
    const owner = acceptedBy(lb.port, socket.localPort!, workers);
    if (owner !== undefined) holders.add(owner);
  }
  assert.equal(holders.size, 2, 'each worker holds a request');
  lb.proc.kill('SIGTERM');
  await lb.waitForLog(() => lb.logs.filter((l) => l.msg === 'shutting down').length >= 3);
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
  assert.equal(lb.logs.filter((l) => l.msg === 'stopped').length, 3, 'both workers and the primary stopped cleanly');
  assert.equal(requests(lb).length, pending.length, 'one access line per request');
});

/** Which of `pids` holds the balancer's side of the connection from 127.0.0.1:`clientPort` to `port` (Linux /proc). */
function acceptedBy(port: number, clientPort: number, pids: readonly number[]): number | undefined {
  const hex = (n: number): string => `0100007F:${n.toString(16).toUpperCase().padStart(4, '0')}`;
  const line = readFileSync('/proc/net/tcp', 'utf8').split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f[1] === hex(port) && f[2] === hex(clientPort));
  const inode = line?.[9];
  if (inode === undefined) return undefined;
  return pids.find((pid) => readdirSync(`/proc/${pid}/fd`).some((fd) => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`; } catch { return false; } }));
}

/** Resolves once the backends hold `n` slow requests between them. */
async function waitHeld(backends: readonly TestBackend[], n: number): Promise<void> {
  const held = (): number => backends.reduce((sum, b) => sum + b.requests.filter((r) => r.url === '/slow').length, 0);
  while (held() < n) {
    // The servers' own events: a waiter left over from an earlier wait must not take the news.
    const done = new AbortController();
    await Promise.race(backends.map((b) => once(b.server, 'request', { signal: done.signal }))).finally(() => done.abort());
  }
}

test('WORKER_LISTEN=shared: the primary holds the one socket and hands connections to the workers (node:cluster\'s round robin), on any Node', async (t) => {
  const backends = await startBackends(t);
  const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', WORKERS: '2', WORKER_LISTEN: 'shared' });
  t.after(() => lb.stop());
  const listening = await lb.waitForLog((l) => l.msg === 'listening');
  assert.equal(listening.workerListen, 'shared');
  await lb.waitForLog(() => workerPids(lb).length === 2);
  const primary = listening.pid as number;
  assert.deepEqual([...listeningOwners(lb.port, [primary, ...workerPids(lb)])], [[primary, 1]]);
  for (let i = 0; i < 10; i++) assert.equal((await get(lb.url)).status, 200);
  await lb.waitForLog(() => new Set(requests(lb).map((l) => l.pid)).size === 2);
});

test('without reusePort (Node 20): WORKER_LISTEN=auto falls back to the hand-off and says why; WORKER_LISTEN=reuseport stops with a configuration error', { skip: NO_REUSE_PORT === undefined ? 'this Node.js has reusePort' : false }, async (t) => {
  const backends = await startBackends(t);
  const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', WORKERS: '2' });
  t.after(() => lb.stop());
  assert.equal((await lb.waitForLog((l) => l.msg === 'listening')).workerListen, 'shared');
  const why = lb.logs.find((l) => l.msg === 'WORKER_LISTEN=auto: the primary accepts connections and hands them to the workers')!;
  assert.equal(why.reason, NO_REUSE_PORT);
  for (let i = 0; i < 10; i++) assert.equal((await get(lb.url)).status, 200);
  const refused = await runLb({ BACKENDS: backends[0]!.url, WORKERS: '2', WORKER_LISTEN: 'reuseport' });
  assert.equal(refused.code, 2);
  assert.equal(refused.stderr, `lb: WORKER_LISTEN=reuseport cannot work here: ${NO_REUSE_PORT}; use WORKER_LISTEN=shared or auto\n`);
});

test('WORKER_LISTEN=reuseport with TLS and HTTP_PORT=0: both ports are chosen once, every worker binds both, and the redirect names the HTTPS port', { skip: NO_REUSE_PORT }, async (t) => {
  const ca = createCa();
  const server = ca.issue('lb', ['127.0.0.1']);
  const backends = await startBackends(t);
  const lb = await startLb({ BACKENDS: backends[0]!.url, TLS_CERT_FILE: server.certFile, TLS_KEY_FILE: server.keyFile, HTTP_PORT: '0', HTTP_REDIRECT: 'true', WORKERS: '2', WORKER_LISTEN: 'reuseport' });
  t.after(() => lb.stop());
  const primary = (await lb.waitForLog((l) => l.msg === 'listening')).pid as number;
  await lb.waitForLog(() => lb.logs.filter((l) => l.msg === 'worker listening').length === 4);
  const plain = lb.logs.filter((l) => l.msg === 'worker listening' && l.proto === 'http').map((l) => l.port);
  assert.equal(plain.length, 2);
  assert.equal(plain[0], plain[1], 'both workers on one HTTP_PORT');
  const httpPort = plain[0] as number;
  assert.notEqual(httpPort, lb.port);
  const workers = workerPids(lb);
  for (const port of [lb.port, httpPort]) assert.deepEqual([...listeningOwners(port, [primary, ...workers])].sort(), workers.map((pid) => [pid, 1]).sort(), `port ${port}`);
  const res = await get(`http://127.0.0.1:${httpPort}/x`);
  assert.equal(res.status, 308);
  assert.equal(res.headers.location, `https://127.0.0.1:${lb.port}/x`);
});
