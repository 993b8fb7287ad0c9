import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type TLSSocket } from 'node:tls';
import { createCa } from './helpers/certs.js';
import { startBackend } from './helpers/backend.js';
import { startLb, type LogLine, type RunningLb } from './helpers/lb.js';

const ca = createCa();
const server = ca.issue('lb', ['localhost', '127.0.0.1']);

/**
 * One request over a new TLS connection (resuming `session` when given; TLS 1.3 unless `version`
 * says): whether it resumed, and the session it was given.
 */
function once(port: number, path: string, session?: Buffer, version: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3'): Promise<{ reused: boolean; session: Buffer | undefined; status: string }> {
  return new Promise((resolve, reject) => {
    let latest: Buffer | undefined;
    let response = '';
    const socket: TLSSocket = connect({
      host: '127.0.0.1', port, servername: 'localhost', ca: ca.cert, ALPNProtocols: ['http/1.1'], minVersion: version, maxVersion: version, ...(session === undefined ? {} : { session }),
    }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    });
    // TLS 1.3 tickets come after the handshake: the last one the server sent before closing.
    socket.on('session', (s: Buffer) => { latest = s; });
    socket.setEncoding('utf8').on('data', (c: string) => { response += c; });
    // A TLS 1.2 client is given a renewed ticket without a 'session' event: the socket's session has it.
    socket.on('end', () => resolve({ reused: socket.isSessionReused(), session: latest ?? socket.getSession(), status: response.split(' ')[1] ?? '' }));
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

test('TLS_TICKET_ROTATION: a session ticket from before a rotation resumes after it (TLS 1.3 and 1.2) and is renewed; one from two rotations ago does not', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  // One process: its rotation log line and its request lines are in one stream, in the order they happened.
  const lb = await startLb({ BACKENDS: backend.url, TLS_CERT_FILE: server.certFile, TLS_KEY_FILE: server.keyFile, TLS_TICKET_ROTATION: '2s' });
  t.after(() => lb.stop());
  assert.ok(!lb.logs.some((l) => String(l.msg).includes('no TLS ticket key callback')), 'this Node.js keeps the previous key');
  const isRotation = (l: LogLine): boolean => l.msg === 'TLS session ticket key rotated';
  const rotations = (): number => lb.logs.filter(isRotation).length;
  /** Rotations logged before the request line of `path`: those its handshake came after (at most one more may lie between). */
  const before = async (path: string): Promise<number> => {
    await lb.waitForLog((l) => l.msg === 'request' && l.path === path);
    return lb.logs.slice(0, lb.logs.findIndex((l) => l.msg === 'request' && l.path === path)).filter(isRotation).length;
  };
  const versions = ['TLSv1.3', 'TLSv1.2'] as const;
  // A step that a rotation cut across (its request line comes after the next rotation's) is made again; at most four times.
  for (let attempt = 1; ; attempt++) {
    // Just after a rotation: most of a period is ahead.
    const seen = rotations();
    await lb.waitForLog(() => rotations() > seen);
    const k = rotations();
    const first = await Promise.all(versions.map((v) => once(lb.port, `/${attempt}-first-${v}`, undefined, v)));
    const firstIn = await Promise.all(versions.map((v) => before(`/${attempt}-first-${v}`)));
    await lb.waitForLog(() => rotations() >= k + 1);
    const renewed = await Promise.all(versions.map((v, i) => once(lb.port, `/${attempt}-renewed-${v}`, first[i]!.session, v)));
    const renewedIn = await Promise.all(versions.map((v) => before(`/${attempt}-renewed-${v}`)));
    await lb.waitForLog(() => rotations() >= k + 2);
    const stale = await Promise.all(versions.map((v, i) => once(lb.port, `/${attempt}-stale-${v}`, first[i]!.session, v)));
    const again = await Promise.all(versions.map((v, i) => once(lb.port, `/${attempt}-again-${v}`, renewed[i]!.session, v)));
    const againIn = await Promise.all(versions.map((v) => before(`/${attempt}-again-${v}`)));
    const cut = firstIn.some((n) => n !== k) || renewedIn.some((n) => n !== k + 1) || againIn.some((n) => n !== k + 2);
    if (cut && attempt < 4) continue;
    assert.equal(cut, false, 'four attempts were each cut across by a rotation');
    for (const [i, v] of versions.entries()) {
      assert.equal(first[i]!.reused, false, v);
      assert.ok(first[i]!.session !== undefined, `${v}: a ticket was issued`);
      assert.equal(renewed[i]!.reused, true, `${v}: resumed one rotation later`);
      assert.equal(stale[i]!.reused, false, `${v}: two rotations later, a full handshake`);
      assert.equal(again[i]!.reused, true, `${v}: the ticket renewed after the rotation resumes after the next`);
    }
    break;
  }
});
