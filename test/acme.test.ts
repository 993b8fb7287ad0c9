// @engine-independent: ACME's steps (TLS-ALPN-01 in the handshake, HTTP-01 in the chain) are the same on both engines; this runs on the default one, and the TLS tests run on both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { connect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { get } from './helpers/http.js';
import { startBackend } from './helpers/backend.js';
import { freePort, startLb, type LogLine, type RunningLb } from './helpers/lb.js';
import { pebbleMissing, startPebble, type Pebble } from './helpers/pebble.js';
import { createCa, issue } from './helpers/certs.js';

// Real orders against Debian's pebble: it resolves the test's names to 127.0.0.1 and validates on
// the balancer's own ports (HTTP_PORT for HTTP-01, PORT for TLS-ALPN-01).
const skip = pebbleMissing();

/** The certificate the balancer presents for `name`, verified against pebble's root. */
function presented(port: number, name: string, ca: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: name, ca, ALPNProtocols: ['http/1.1'] }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.on('error', reject);
  });
}

/** The protocol the balancer chooses by ALPN among `offered`. */
function alpnOf(port: number, name: string, ca: string, offered: string[]): Promise<string | false | null> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: name, ca, ALPNProtocols: offered }, () => {
      resolve(socket.alpnProtocol);
      socket.end();
    });
    socket.on('error', reject);
  });
}

interface Setup {
  readonly pebble: Pebble;
  readonly storage: string;
  readonly env: Record<string, string>;
}

/** Pebble for `names`, and the settings of a balancer that orders from it on ports known in advance. */
async function setup(t: { after: (fn: () => unknown) => void }, names: string[], extra: Record<string, string> = {}, validitySeconds?: number): Promise<Setup> {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const [port, httpPort] = [await freePort(), await freePort()];
  const pebble = await startPebble({ httpPort, tlsPort: port, names, validitySeconds });
  t.after(() => pebble.stop());
  const storage = mkdtempSync(join(tmpdir(), 'lb-acme-'));
  return {
    pebble,
    storage,
    env: {
      BACKENDS: backend.url, PORT: String(port), HTTP_PORT: String(httpPort), ACME_DOMAINS: names.join(','), ACME_STORAGE: storage,
      ACME_DIRECTORY: pebble.directory, ACME_CA_FILE: pebble.caFile, ACME_EMAIL: 'ops@example.test', ACME_RENEW_CHECK: '200ms', ...extra,
    },
  };
}

const issued = (name: string) => (l: LogLine): boolean => l.msg === 'ACME certificate issued' && l.name === name;
const orders = (lb: RunningLb): LogLine[] => lb.logs.filter((l) => l.msg === 'ACME order started');

test('HTTP-01: the balancer orders on its own, answers the challenge on HTTP_PORT, stores the certificate (0600) and serves it; a restart serves the stored one without an order', { skip }, async (t) => {
  const { pebble, storage, env } = await setup(t, ['a.acme.test']);
  const lb = await startLb({ ...env, ACME_CHALLENGE: 'http-01' });
  t.after(() => lb.stop());
  const line = await lb.waitForLog(issued('a.acme.test'));
  assert.ok(lb.logs.some((l) => l.msg === 'ACME HTTP-01 challenge answered'), 'pebble reached the plain listener');
  const root = await pebble.roots();
  const cert = await presented(lb.port, 'a.acme.test', root);
  assert.equal(cert.serialNumber, line.serial);
  assert.match(cert.subjectaltname ?? '', /DNS:a\.acme\.test/);
  for (const file of readdirSync(storage)) {
    assert.equal(statSync(join(storage, file)).mode & 0o777, 0o600, `${file} is 0600`);
  }
  assert.deepEqual(readdirSync(storage).sort(), ['a.acme.test.pem', 'account.key']);
  // Plain requests still reach the backends.
  const plain = await lb.waitForLog((l) => l.msg === 'listening' && l.proto === 'http');
  assert.equal((await get(`http://127.0.0.1:${plain.port as number}/`)).body, 'b');
  assert.equal(orders(lb).length, 1);
  await lb.stop();

  const again = await startLb({ ...env, ACME_CHALLENGE: 'http-01' });
  t.after(() => again.stop());
  const loaded = await again.waitForLog((l) => l.msg === 'ACME certificate loaded from storage');
  assert.equal(loaded.serial, line.serial);
  assert.equal((await presented(again.port, 'a.acme.test', root)).serialNumber, line.serial, 'served at once, from storage');
  // A round of checks has run (the first is at start): nothing was due, nothing ordered.
  await again.waitForLog((l) => l.msg === 'listening');
  assert.equal(orders(again).length, 0);
});

test('TLS-ALPN-01: the challenge certificate is served to a handshake offering acme-tls/1 on PORT, without any plain listener', { skip }, async (t) => {
  const { pebble, env } = await setup(t, ['b.acme.test']);
  const { HTTP_PORT: _unused, ...tlsOnly } = env;
  void _unused;
  const lb = await startLb({ ...tlsOnly, ACME_CHALLENGE: 'tls-alpn-01' });
  t.after(() => lb.stop());
  const line = await lb.waitForLog(issued('b.acme.test'));
  assert.equal(orders(lb)[0]!.challenge, 'tls-alpn-01');
  assert.equal((await presented(lb.port, 'b.acme.test', await pebble.roots())).serialNumber, line.serial);
  // With the ALPN choice in our hands, HTTP/2 and HTTP/1.1 clients get theirs as before.
  assert.equal(await alpnOf(lb.port, 'b.acme.test', await pebble.roots(), ['h2', 'http/1.1']), 'h2');
  assert.equal(await alpnOf(lb.port, 'b.acme.test', await pebble.roots(), ['http/1.1']), 'http/1.1');
  // A name without a certificate is refused with a TLS alert, not given another name's.
  await assert.rejects(presented(lb.port, 'unknown.acme.test', await pebble.roots()));
});

test('renewal: a certificate past two thirds of its lifetime is ordered again and the new one served', { skip }, async (t) => {
  // Pebble issues certificates that live 4 s: due after 2.7 s (at most 0.2 s earlier).
  const { pebble, env } = await setup(t, ['c.acme.test'], {}, 4);
  const lb = await startLb(env);
  t.after(() => lb.stop());
  const first = await lb.waitForLog(issued('c.acme.test'));
  const second = await lb.waitForLog((l) => issued('c.acme.test')(l) && l.renewal === true);
  assert.notEqual(second.serial, first.serial);
  const served = await presented(lb.port, 'c.acme.test', await pebble.roots()).catch(() => undefined);
  // Served: the second or a later renewal (they come every three seconds).
  assert.ok(served === undefined || served.serialNumber !== first.serial);
});

test('WORKERS=2: only the primary orders; the workers answer the challenge and serve the certificate', { skip }, async (t) => {
  const { pebble, env } = await setup(t, ['d.acme.test']);
  const lb = await startLb({ ...env, WORKERS: '2' });
  t.after(() => lb.stop());
  const line = await lb.waitForLog(issued('d.acme.test'));
  const started = orders(lb);
  assert.equal(started.length, 1, 'one order');
  assert.ok(started.every((l) => l.worker === undefined), 'placed by the primary');
  // A worker's line may be read after the primary's that follows it (each process has its own pipe): waited for.
  await lb.waitForLog((l) => l.msg === 'ACME HTTP-01 challenge answered' && l.worker !== undefined);
  const root = await pebble.roots();
  // A new connection each time until both workers have served one (at least four, at most 64: with
  // WORKER_LISTEN=reuseport the kernel spreads connections by a hash of their ports), each with the certificate.
  const pids = new Set<unknown>();
  for (let i = 0; i < 64 && (i < 4 || pids.size < 2); i++) {
    const res = await httpsGet(lb.port, 'd.acme.test', `/w${i}`, root);
    assert.equal(res.status, 200);
    assert.equal(res.serial, line.serial);
    pids.add((await lb.waitForLog((l) => l.msg === 'request' && l.path === `/w${i}`)).pid);
  }
  assert.equal(pids.size, 2, 'both workers served');
});

/** A GET over a new TLS connection to `name`, verified against `ca`. */
function httpsGet(port: number, name: string, path: string, ca: string): Promise<{ status: number; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, servername: name, ca, agent: false, headers: { host: name } }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      res.resume().on('end', () => resolve({ status: res.statusCode!, serial }));
    });
    req.on('error', reject).end();
  });
}

test('instances sharing ACME_STORAGE: while another holds the order lock none orders, and the certificate it stores is picked up and served', { skip }, async (t) => {
  const { pebble, storage, env } = await setup(t, ['f.acme.test']);
  // A plain listener that redirects to HTTPS still answers HTTP-01.
  const first = await startLb({ ...env, HTTP_REDIRECT: 'true', ACME_CHALLENGE: 'http-01' });
  const line = await first.waitForLog(issued('f.acme.test'));
  await first.stop();
  // Another instance is ordering for the shared directory: its fresh lock is there.
  const shared = mkdtempSync(join(tmpdir(), 'lb-acme-shared-'));
  writeFileSync(join(shared, 'order.lock'), 'other-host 4242 abcdef\n', { mode: 0o600 });
  const lb = await startLb({ ...env, ACME_STORAGE: shared });
  t.after(() => lb.stop());
  await lb.waitForLog((l) => l.msg === 'ACME: another instance is ordering (lock held): waiting for its certificate');
  // It stores its certificate (by rename, as the balancer does): picked up on the next check.
  copyFileSync(join(storage, 'f.acme.test.pem'), join(shared, 'f.acme.test.pem.tmp'));
  renameSync(join(shared, 'f.acme.test.pem.tmp'), join(shared, 'f.acme.test.pem'));
  const picked = await lb.waitForLog((l) => l.msg === 'ACME certificate picked up from storage');
  assert.equal(picked.serial, line.serial);
  assert.equal((await presented(lb.port, 'f.acme.test', await pebble.roots())).serialNumber, line.serial);
  assert.equal(orders(lb).length, 0, 'no order while another instance holds the lock');
});

test('a failed order is tried again after a back-off that doubles, while plain traffic is served', { skip }, async (t) => {
  // Pebble cannot resolve this name (its DNS knows only g.acme.test): every validation fails.
  const { env } = await setup(t, ['g.acme.test']);
  const lb = await startLb({ ...env, ACME_DOMAINS: 'nowhere.acme.test' });
  t.after(() => lb.stop());
  const failed = (n: number) => (l: LogLine): boolean => l.msg === 'ACME order failed: serving what there is, trying again later' && l.failures === n;
  const one = await lb.waitForLog(failed(1));
  const two = await lb.waitForLog(failed(2));
  assert.match(String(one.err), /could not resolve/, 'the validation failed');
  // ACME_RENEW_CHECK (200 ms) once, then twice that; up to a quarter less at random.
  assert.ok((one.retryInMs as number) >= 150 && (one.retryInMs as number) <= 200, String(one.retryInMs));
  assert.ok((two.retryInMs as number) >= 300 && (two.retryInMs as number) <= 400, String(two.retryInMs));
  const plain = await lb.waitForLog((l) => l.msg === 'listening' && l.proto === 'http');
  assert.equal((await get(`http://127.0.0.1:${plain.port as number}/`)).body, 'b');
});

test('with TLS_CERT_FILE pairs too: one store, chosen by SNI: the ordered name gets its ACME certificate, each file\'s name its own, any other name the first file\'s', { skip }, async (t) => {
  const ca = createCa();
  const files = ca.issue('files', ['files.test']);
  const second = ca.issue('second', ['second.test']);
  const { pebble, env } = await setup(t, ['d.acme.test'], {
    TLS_CERT_FILE: `${files.certFile},${second.certFile}`, TLS_KEY_FILE: `${files.keyFile},${second.keyFile}`, ACME_CHALLENGE: 'http-01',
  });
  const lb = await startLb(env);
  t.after(() => lb.stop());
  const line = await lb.waitForLog(issued('d.acme.test'));
  const root = await pebble.roots();
  assert.equal((await presented(lb.port, 'd.acme.test', root)).serialNumber, line.serial);
  assert.match((await presented(lb.port, 'files.test', ca.cert)).subjectaltname ?? '', /DNS:files\.test/);
  assert.match((await presented(lb.port, 'second.test', ca.cert)).subjectaltname ?? '', /DNS:second\.test/);
  // A name with no certificate of its own gets the default (the file's), as nginx's default server does.
  const other = await new Promise<PeerCertificate>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: lb.port, servername: 'other.test', rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.on('error', reject);
  });
  assert.match(other.subjectaltname ?? '', /DNS:files\.test/);
});

/** A GET to `name` over TLS `version` (with a client certificate when given): the status, or a rejection when the handshake fails. */
function mtlsGet(port: number, name: string, ca: string, version: 'TLSv1.2' | 'TLSv1.3', client?: { cert: string; key: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', servername: name, ca, agent: false, headers: { host: name }, minVersion: version, maxVersion: version, ...client }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject).end();
  });
}

test('ACME alone (no TLS_CERT_FILE): TLS_MIN_VERSION and TLS_CLIENT_AUTH apply to its certificates as to files\' (a TLS 1.2 client and one without a certificate are refused)', { skip }, async (t) => {
  const clients = createCa();
  const client = issue(clients, 'client-one', ['URI:spiffe://example.test/one'], { usage: 'client' });
  const { pebble, env } = await setup(t, ['h.acme.test'], {
    ACME_CHALLENGE: 'http-01', HTTP_REDIRECT: 'true', TLS_MIN_VERSION: 'TLSv1.3', TLS_CLIENT_AUTH: 'require', TLS_CLIENT_CA_FILE: clients.certFile,
  });
  const lb = await startLb(env);
  t.after(() => lb.stop());
  await lb.waitForLog(issued('h.acme.test'));
  const root = await pebble.roots();
  assert.equal(await mtlsGet(lb.port, 'h.acme.test', root, 'TLSv1.3', client), 200, 'TLS 1.3 with a client certificate');
  await assert.rejects(mtlsGet(lb.port, 'h.acme.test', root, 'TLSv1.2', client), 'TLS 1.2 is below TLS_MIN_VERSION');
  await assert.rejects(mtlsGet(lb.port, 'h.acme.test', root, 'TLSv1.3'), 'no client certificate');
});
