import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type IncomingMessage } from 'node:http';
import { connect as h2Connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { setTimeout as delay } from 'node:timers/promises';
import { createCa } from './helpers/certs.js';
import { startBackend } from './helpers/backend.js';
import { exchangeOn, whenClosed } from './helpers/http.js';
import { startLb, type RunningLb } from './helpers/lb.js';
import { MiB, PATTERN, pump } from './helpers/pattern.js';

// HTTP/1.1 over TLS on either engine (TEST_ENGINE): the fast engine serves it from the TLS
// socket since it terminates TLS; what must hold whichever engine parses it.

const ca = createCa();
const server = ca.issue('lb-fast-tls', ['localhost', '127.0.0.1']);
const TLS = { TLS_CERT_FILE: server.certFile, TLS_KEY_FILE: server.keyFile, HEALTH_CHECK_PATH: '/health' };

/** A TLS connection to the balancer offering `alpn` (none: no ALPN at all). */
async function tlsTo(lb: RunningLb, alpn?: string[]): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port: lb.port, ca: ca.cert, servername: 'localhost', ...(alpn === undefined ? {} : { ALPNProtocols: alpn }) });
  await once(socket, 'secureConnect');
  return socket;
}

/** Writes `bytes` on a new TLS connection and reads up to the `responses`-th complete response, or the close. */
async function tlsExchange(lb: RunningLb, bytes: string, responses: number, alpn?: string[]): Promise<string> {
  return exchangeOn(await tlsTo(lb, alpn), bytes, responses);
}

function sha(parts: Buffer[]): string {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  return hash.digest('hex');
}

/** The sha256 of the first `total` bytes `pump` writes. */
function patternSha(total: number): string {
  const hash = createHash('sha256');
  for (let at = 0; at < total; at += 64 * 1024) {
    const size = Math.min(64 * 1024, total - at);
    hash.update(PATTERN.subarray(at % PATTERN.length, (at % PATTERN.length) + size));
  }
  return hash.digest('hex');
}

test('ENGINE=fast serves HTTPS HTTP/1.1 itself (with ALPN http/1.1 or none); ALPN h2 still goes to node:http2', async (t) => {
  const echo = await startBackend('echo', (req, res) => { req.resume(); res.end(JSON.stringify({ proto: req.headers['x-forwarded-proto'], forwarded: req.headers.forwarded })); });
  t.after(() => echo.close());
  for (const engine of ['fast', 'node']) {
    const lb = await startLb({ BACKENDS: echo.url, ...TLS, ENGINE: engine });
    const listening = await lb.waitForLog((l) => l.msg === 'listening');
    assert.equal(listening.proto, 'https');
    assert.equal(listening.engine, engine, 'the TLS listener is the engine asked for');
    for (const alpn of [['http/1.1'], undefined]) {
      const text = await tlsExchange(lb, 'GET /one HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', 1, alpn);
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { proto: string; forwarded: string };
      assert.equal(body.proto, 'https');
      assert.match(body.forwarded, /;proto=https$/);
    }
    const session = h2Connect(`https://127.0.0.1:${lb.port}`, { ca: ca.cert, servername: 'localhost' });
    const stream = session.request({ ':path': '/two' });
    let h2body = '';
    stream.setEncoding('utf8').on('data', (c: string) => { h2body += c; });
    await once(stream, 'end');
    assert.equal(session.alpnProtocol, 'h2');
    assert.equal((JSON.parse(h2body) as { proto: string }).proto, 'https');
    session.close();
    await lb.stop();
  }
});

test('HTTPS: pipelined requests on one TLS connection run at once and are answered in order', async (t) => {
  let slowAnswered = false;
  let fastCameEarly = false;
  const backend = await startBackend('order', (req, res) => {
    req.resume();
    if (req.url === '/fast') fastCameEarly = !slowAnswered;
    const answer = (): void => {
      if (req.url === '/slow') slowAnswered = true;
      res.end(req.url);
    };
    // /slow waits for /fast to have reached the backend: pipelined requests run at once.
    if (req.url === '/slow') void backend.nextRequest().then(() => setImmediate(answer));
    else answer();
  });
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, ...TLS });
  t.after(() => lb.stop());
  const text = await tlsExchange(lb, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3);
  const bodies = [...text.matchAll(/\r\n\r\n(\/slow|\/fast|\/last)/g)].map((m) => m[1]);
  assert.deepEqual(bodies, ['/slow', '/fast', '/last']);
  assert.equal(fastCameEarly, true, '/fast reached the backend before /slow was answered');
});

test('HTTPS: a 48 MiB download and upload stream byte-exact, held back while the other side does not read', async (t) => {
  const TOTAL = 48 * MiB;
  const expected = patternSha(TOTAL);
  const sent = { written: 0 };
  let releaseUpload!: () => void;
  const uploadReleased = new Promise<void>((resolve) => { releaseUpload = resolve; });
  const backend = await startBackend('big', (req, res) => {
    if (req.url === '/download') {
      res.setHeader('content-length', TOTAL);
      pump(res, TOTAL, sent);
      return;
    }
    if (req.url !== '/upload') { req.resume(); res.end(); return; }
    // Reads nothing until the test says so.
    req.pause();
    void uploadReleased.then(() => {
      const parts: Buffer[] = [];
      let bytes = 0;
      req.on('data', (c: Buffer) => { bytes += c.length; parts.push(c); });
      req.on('end', () => res.end(JSON.stringify({ bytes, sha256: sha(parts) })));
      req.resume();
    });
  });
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, ...TLS });
  t.after(() => lb.stop());

  const idle = lb.peakRssMiB();
  // Download: the client reads nothing for a while; the backend cannot send it all meanwhile.
  const down = httpsRequest({ host: '127.0.0.1', port: lb.port, path: '/download', ca: ca.cert, servername: 'localhost', agent: false }).end();
  const [res] = await once(down, 'response') as [IncomingMessage];
  res.pause();
  await delay(300);
  assert.ok(sent.written < TOTAL, `the backend sent ${sent.written} bytes of ${TOTAL} to a client reading nothing`);
  const parts: Buffer[] = [];
  let bytes = 0;
  for await (const c of res) { bytes += (c as Buffer).length; parts.push(c as Buffer); }
  assert.equal(bytes, TOTAL);
  assert.equal(sha(parts), expected);
  parts.length = 0;

  // Upload: the backend reads nothing for a while; the client cannot send it all meanwhile.
  const up = httpsRequest({ host: '127.0.0.1', port: lb.port, path: '/upload', method: 'POST', ca: ca.cert, servername: 'localhost', agent: false, headers: { 'content-length': TOTAL } });
  const upResponse = once(up, 'response') as Promise<[IncomingMessage]>;
  const uploaded = { written: 0 };
  pump(up, TOTAL, uploaded);
  await backend.nextRequest();
  await delay(300);
  assert.ok(uploaded.written < TOTAL, `the client sent ${uploaded.written} bytes of ${TOTAL} to a backend reading nothing`);
  releaseUpload();
  const [upRes] = await upResponse;
  let upBody = '';
  for await (const c of upRes) upBody += c;
  assert.equal(upRes.statusCode, 200);
  assert.deepEqual(JSON.parse(upBody), { bytes: TOTAL, sha256: expected });

  // Not asserted: on Node 24 and 26 the heap alone grows by more than a body here, on either engine.
  const peak = lb.peakRssMiB();
  t.diagnostic(`balancer peak RSS: ${idle.toFixed(1)} MiB before, ${peak.toFixed(1)} MiB after`);
});

test('HTTPS: a client that leaves mid-upload or mid-download ends the backend\'s exchange', async (t) => {
  const backend = await startBackend('mid', (req, res) => {
    if (req.url === '/health') { res.end(); return; }
    if (req.url === '/upload') { req.resume(); return; } // never answers: only the client leaving ends it
    const chunk = Buffer.alloc(64 * 1024, 97);
    const more = (): void => { while (res.write(chunk)); };
    res.on('drain', more);
    more();
  });
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, ...TLS, PROXY_TIMEOUT: '1h', CLIENT_BODY_TIMEOUT: '0' });
  t.after(() => lb.stop());

  const uploader = await tlsTo(lb);
  uploader.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${8 * MiB}\r\n\r\n`);
  uploader.write(PATTERN.subarray(0, 256 * 1024));
  const upload = await backend.nextRequest();
  const uploadClosed = whenClosed(upload.socket);
  uploader.destroy();
  await uploadClosed;
  assert.equal(upload.complete, false);
  assert.equal((await lb.waitForLog((l) => l.msg === 'request' && l.path === '/upload')).status, 499);

  const downloader = await tlsTo(lb);
  downloader.write('GET /download HTTP/1.1\r\nHost: x\r\n\r\n');
  const download = await backend.nextRequest();
  const downloadClosed = whenClosed(download.socket);
  await once(downloader, 'data');
  downloader.destroy();
  await downloadClosed;
  // Its head had gone: the line keeps the status sent, and says why it ended.
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/download');
  assert.equal(line.status, 200);
  assert.equal(line.error, 'LB_ERR_CLIENT_CLOSED');

  // The balancer goes on serving.
  const text = await tlsExchange(lb, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 1);
  assert.match(text, /^HTTP\/1\.1 200 /);
});

test('HTTPS: SIGTERM closes idle TLS connections at once and finishes one in flight with Connection: close', async (t) => {
  const releases: (() => void)[] = [];
  const backend = await startBackend('b', (req, res) => {
    req.resume();
    if (req.url === '/slow') releases.push(() => res.end('done'));
    else res.end('fast');
  });
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, ...TLS });

  const idle = await tlsTo(lb);
  idle.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(idle, 'data');
  const idleClosed = whenClosed(idle);

  const inflight = httpsRequest({ host: '127.0.0.1', port: lb.port, path: '/slow', ca: ca.cert, servername: 'localhost', agent: false }).end();
  const response = once(inflight, 'response') as Promise<[IncomingMessage]>;
  await backend.nextRequest();
  lb.proc.kill('SIGTERM');
  await lb.waitForLog((l) => l.msg === 'shutting down');
  await idleClosed;

  for (const release of releases.splice(0)) release();
  const [res] = await response;
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers.connection, 'close');
  let body = '';
  for await (const c of res) body += c;
  assert.equal(body, 'done');
  assert.equal(await lb.exited, 0);
  assert.equal((await lb.waitForLog((l) => l.msg === 'stopped')).cut, 0);
});

test('HTTPS: the HTTP/2 preface on a connection whose ALPN chose http/1.1 is a malformed request, not h2c', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, ...TLS });
  t.after(() => lb.stop());
  const text = await tlsExchange(lb, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 1, ['http/1.1']);
  // As node:http answers it.
  assert.match(text, /^HTTP\/1\.1 400 /);
  assert.match(text, /\r\nconnection: close\r\n/i);
  assert.equal(backend.requests.filter((r) => r.url !== '/health').length, 0);
});
