import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type TLSSocket } from 'node:tls';
import { createCa } from './helpers/certs.js';
import { startBackend } from './helpers/backend.js';
import { startLb, type RunningLb } from './helpers/lb.js';

const ca = createCa();
const server = ca.issue('lb', ['localhost', '127.0.0.1']);

/** One request over a new TLS connection (resuming `session` when given): whether it resumed, and the session it was given. */
function once(port: number, path: string, session?: Buffer): Promise<{ reused: boolean; session: Buffer | undefined; status: string }> {
  return new Promise((resolve, reject) => {
    let latest: Buffer | undefined;
    let response = '';
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.cert, ALPNProtocols: ['http/1.1'], ...(session === undefined ? {} : { session }) }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    });
    // TLS 1.3 tickets come after the handshake: the last one the server sent before closing.
    socket.on('session', (s: Buffer) => { latest = s; });
    socket.setEncoding('utf8').on('data', (c: string) => { response += c; });
    socket.on('end', () => resolve({ reused: socket.isSessionReused(), session: latest, status: response.split(' ')[1] ?? '' }));
    socket.on('error', reject);
  });
}

/**
 * A first connection for a session, then connections resuming it until both worker processes
 * have served one (at least four, at most 64: with WORKER_LISTEN=reuseport the kernel, not the
 * primary, spreads them, by a hash of each connection's ports): whether each resumed, and on how
 * many worker processes.
 */
async function resumeFour(lb: RunningLb, tag: string): Promise<{ reused: boolean[]; pids: number }> {
  const first = await once(lb.port, `/${tag}0`);
  assert.equal(first.status, '200');
  assert.equal(first.reused, false);
  assert.ok(first.session !== undefined, 'a session ticket was issued');
  const reused: boolean[] = [];
  const pids = new Set<unknown>();
  for (let i = 1; i <= 64 && (i <= 4 || pids.size < 2); i++) {
    const next = await once(lb.port, `/${tag}${i}`, first.session);
    assert.equal(next.status, '200');
    reused.push(next.reused);
    const path = `/${tag}${i}`;
    const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === path);
    pids.add(line.pid);
  }
  return { reused: reused.every((r) => r) ? [true, true, true, true] : reused, pids: pids.size };
}

test('WORKERS=2: a TLS session resumes on either worker, also after the certificate is reloaded (the primary hands every worker the same ticket key)', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, TLS_CERT_FILE: server.certFile, TLS_KEY_FILE: server.keyFile, WORKERS: '2' });
  t.after(() => lb.stop());
  assert.deepEqual(await resumeFour(lb, 'a'), { reused: [true, true, true, true], pids: 2 });
  // A reload makes each worker a new TLS context, which node:cluster does not give the shared key again.
  lb.proc.kill('SIGHUP');
  await lb.waitForLog(() => lb.logs.filter((l) => l.msg === 'TLS certificate reloaded').length >= 2);
  assert.deepEqual(await resumeFour(lb, 'b'), { reused: [true, true, true, true], pids: 2 });
});

test('WORKERS=2: a worker that replaces a dead one after a key rotation resumes sessions with the current key', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, TLS_CERT_FILE: server.certFile, TLS_KEY_FILE: server.keyFile, WORKERS: '2', TLS_TICKET_ROTATION: '4s' });
  t.after(() => lb.stop());
  const rotations = (): number => lb.logs.filter((l) => l.msg === 'TLS session ticket key rotated').length;
  // A measure that a rotation cut across (it invalidates the first connection's ticket) is made again; at most three times.
  for (let attempt = 1; ; attempt++) {
    await lb.waitForLog(() => rotations() >= attempt);
    const victim = lb.logs.filter((l) => l.msg === 'worker started' && l.worker === 0).at(-1)!;
    process.kill(victim.workerPid as number, 'SIGKILL');
    await lb.waitForLog((l) => l.msg === 'worker started' && l.worker === 0 && l.workerPid !== victim.workerPid);
    const before = rotations();
    const result = await resumeFour(lb, `r${attempt}-`);
    if (rotations() !== before && attempt < 3) continue;
    assert.deepEqual(result, { reused: [true, true, true, true], pids: 2 });
    break;
  }
});
