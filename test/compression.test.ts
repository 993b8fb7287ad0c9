import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, createGunzip, gunzipSync, gzipSync } from 'node:zlib';
import { startBackend, type Handler } from './helpers/backend.js';
import { createCa } from './helpers/certs.js';
import { ENGINE_INDEPENDENT, startLb, type RunningLb } from './helpers/lb.js';
import { startH2Backend } from './helpers/h2-backend.js';

const CHECKS = { HEALTH_CHECK_PATH: '/health', HEALTH_CHECK_TIMEOUT: '10s' };
const TEXT = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(200));

/** A deferred: the backend waits on it for the client's word. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

/** Text that compresses about 2:1 (hex of random bytes): enough output per MiB for the compressor to pass it on. */
function noisyText(bytes: number): Buffer {
  return Buffer.from(randomBytes(bytes / 2).toString('hex'));
}

const gate = { slow: signal(), sse: signal() };
const slowRest = { sent: false };
/** Resolved when the backend's /endless response closes: the balancer let go of it. */
const endless = signal();

const handler: Handler = (req, res) => {
  req.resume();
  const url = req.url ?? '/';
  if (url === '/health') { res.end(); return; }
  if (url.startsWith('/text')) {
    const size = Number(new URL(url, 'http://x').searchParams.get('size') ?? TEXT.length);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': size, etag: '"v1"', vary: 'Origin' });
    res.end(req.method === 'HEAD' ? undefined : TEXT.subarray(0, size));
    return;
  }
  if (url === '/chunked') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"a":"');
    res.write('x'.repeat(100));
    res.end('"}');
    return;
  }
  if (url === '/png') { res.writeHead(200, { 'content-type': 'image/png', 'content-length': TEXT.length }); res.end(TEXT); return; }
  if (url === '/encoded') {
    const body = gzipSync(TEXT);
    res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': body.length });
    res.end(body);
    return;
  }
  if (url === '/no-transform') { res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, no-transform' }); res.end(TEXT); return; }
  if (url === '/not-modified') { res.writeHead(304, { etag: '"v1"' }); res.end(); return; }
  if (url === '/partial') {
    res.writeHead(206, { 'content-type': 'text/plain', 'content-range': `bytes 0-1999/${TEXT.length}`, 'content-length': 2000 });
    res.end(TEXT.subarray(0, 2000));
    return;
  }
  if (url === '/slow') {
    // 8 MiB: 1 MiB now, the rest only once the client has told the test it decompressed some.
    const first = noisyText(1024 * 1024);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write(first);
    void gate.slow.promise.then(() => {
      const hash = createHash('sha256').update(first);
      for (let i = 0; i < 7; i++) {
        const part = noisyText(1024 * 1024);
        hash.update(part);
        res.write(part);
      }
      slowRest.sent = true;
      shaOfSlow = hash.digest('hex');
      res.end();
    });
    return;
  }
  if (url === '/endless') {
    // Noisy text until the balancer lets go (at most 256 MiB), with backpressure.
    res.writeHead(200, { 'content-type': 'text/plain' });
    let sent = 0;
    const more = (): void => {
      while (sent < 256 * 1024 * 1024 && !res.destroyed) {
        sent += 256 * 1024;
        if (!res.write(noisyText(256 * 1024))) { res.once('drain', more); return; }
      }
      if (!res.destroyed) res.end();
    };
    res.on('close', () => endless.resolve());
    more();
    return;
  }
  if (url === '/sse') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write('data: first\n\n');
    void gate.sse.promise.then(() => res.end('data: second\n\n'));
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('no');
};
let shaOfSlow = '';

interface Got { status: number; headers: IncomingHttpHeaders; body: Buffer }

async function fetchRaw(lb: RunningLb, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Got> {
  const req = request({ host: '127.0.0.1', port: lb.port, path, method, headers });
  req.end();
  const [res] = await once(req, 'response') as [IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return { status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) };
}

async function setup(t: { after(fn: () => unknown): void }, env: Record<string, string> = {}, args: string[] = []): Promise<RunningLb> {
  const backend = await startBackend('b', handler);
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, ...CHECKS, COMPRESSION: 'br,gzip', ...env }, { args });
  t.after(() => lb.stop());
  return lb;
}

test('COMPRESSION: the coding follows Accept-Encoding q-values; Vary appended, ETag weakened, no Content-Length; bytes logged as sent', async (t) => {
  const lb = await setup(t);
  const br = await fetchRaw(lb, '/text', { 'accept-encoding': 'gzip, br' });
  assert.equal(br.status, 200);
  assert.equal(br.headers['content-encoding'], 'br');
  assert.equal(br.headers['content-length'], undefined);
  assert.equal(br.headers['transfer-encoding'], 'chunked');
  assert.equal(br.headers.vary, 'Origin, Accept-Encoding');
  assert.equal(br.headers.etag, 'W/"v1"');
  assert.deepEqual(brotliDecompressSync(br.body), TEXT);
  assert.ok(br.body.length < TEXT.length / 4, `compressed: ${br.body.length} bytes`);
  const gz = await fetchRaw(lb, '/text', { 'accept-encoding': 'br;q=0.5, gzip' });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.deepEqual(gunzipSync(gz.body), TEXT);
  const id = gz.headers['x-request-id'];
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.reqId === id);
  assert.equal(line.bytes, gz.body.length, 'the access line counts the bytes sent');
  const chunked = await fetchRaw(lb, '/chunked', { 'accept-encoding': 'gzip' });
  assert.equal(chunked.headers['content-encoding'], 'gzip', 'a body without a length is compressed');
  assert.equal(JSON.parse(gunzipSync(chunked.body).toString()).a.length, 100);
  const none = await fetchRaw(lb, '/text', { 'accept-encoding': 'br;q=0, gzip;q=0' });
  assert.equal(none.headers['content-encoding'], undefined);
  assert.equal(none.headers['content-length'], String(TEXT.length));
  assert.equal(none.headers.vary, 'Origin, Accept-Encoding', 'a response that could be compressed varies');
  assert.equal(none.headers.etag, '"v1"');
  assert.deepEqual(none.body, TEXT);
  const star = await fetchRaw(lb, '/text', { 'accept-encoding': 'br;q=0, *' });
  assert.equal(star.headers['content-encoding'], 'gzip');
  const plain = await fetchRaw(lb, '/text');
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.deepEqual(plain.body, TEXT);
});

test('COMPRESSION skips small bodies, other types, encoded bodies, no-transform, HEAD, 304, 206 and Range requests', async (t) => {
  const lb = await setup(t);
  const ae = { 'accept-encoding': 'gzip, br' };
  const small = await fetchRaw(lb, '/text?size=500', ae);
  assert.equal(small.headers['content-encoding'], undefined);
  assert.equal(small.headers['content-length'], '500');
  assert.equal(small.headers.vary, 'Origin');
  const png = await fetchRaw(lb, '/png', ae);
  assert.equal(png.headers['content-encoding'], undefined);
  assert.deepEqual(png.body, TEXT);
  const encoded = await fetchRaw(lb, '/encoded', ae);
  assert.equal(encoded.headers['content-encoding'], 'gzip');
  assert.deepEqual(gunzipSync(encoded.body), TEXT, 'encoded once, by the backend');
  const noTransform = await fetchRaw(lb, '/no-transform', ae);
  assert.equal(noTransform.headers['content-encoding'], undefined);
  assert.deepEqual(noTransform.body, TEXT);
  const head = await fetchRaw(lb, '/text', ae, 'HEAD');
  assert.equal(head.headers['content-encoding'], undefined);
  assert.equal(head.headers['content-length'], String(TEXT.length));
  assert.equal(head.headers.vary, 'Origin, Accept-Encoding');
  const notModified = await fetchRaw(lb, '/not-modified', ae);
  assert.equal(notModified.status, 304);
  assert.equal(notModified.headers['content-encoding'], undefined);
  const partial = await fetchRaw(lb, '/partial', ae);
  assert.equal(partial.status, 206);
  assert.equal(partial.headers['content-encoding'], undefined);
  assert.equal(partial.body.length, 2000);
  const ranged = await fetchRaw(lb, '/text', { ...ae, range: 'bytes=0-10' });
  assert.equal(ranged.headers['content-encoding'], undefined);
  assert.deepEqual(ranged.body, TEXT);
});

test('COMPRESSION streams: the client decompresses the start of an 8 MiB body before the backend has sent the rest', async (t) => {
  const lb = await setup(t);
  const req = request({ host: '127.0.0.1', port: lb.port, path: '/slow', headers: { 'accept-encoding': 'gzip' } });
  req.end();
  const [res] = await once(req, 'response') as [IncomingMessage];
  assert.equal(res.headers['content-encoding'], 'gzip');
  const gunzip = res.pipe(createGunzip());
  const hash = createHash('sha256');
  let total = 0;
  let before = -1;
  gunzip.on('data', (c: Buffer) => {
    hash.update(c);
    total += c.length;
    if (before < 0) {
      before = total;
      assert.equal(slowRest.sent, false, 'the rest of the body is not sent before the client had some of it');
      gate.slow.resolve();
    }
  });
  await once(gunzip, 'end');
  assert.ok(before > 0, 'decompressed bytes came before the backend went on');
  assert.equal(total, 8 * 1024 * 1024);
  assert.equal(hash.digest('hex'), shaOfSlow);
});

test('COMPRESSION flushes server-sent events: each event reaches the client as it is sent', async (t) => {
  const lb = await setup(t);
  const req = request({ host: '127.0.0.1', port: lb.port, path: '/sse', headers: { 'accept-encoding': 'gzip' } });
  req.end();
  const [res] = await once(req, 'response') as [IncomingMessage];
  assert.equal(res.headers['content-encoding'], 'gzip');
  const gunzip = res.pipe(createGunzip());
  let text = '';
  gunzip.on('data', (c: Buffer) => {
    const first = text === '';
    text += c.toString();
    if (first) {
      assert.equal(text, 'data: first\n\n');
      gate.sse.resolve();
    }
  });
  await once(gunzip, 'end');
  assert.equal(text, 'data: first\n\ndata: second\n\n');
});

test('a route\'s Compression filter overrides COMPRESSION: off for one route, its own codings and size for another', async (t) => {
  const backend = await startBackend('b', handler);
  t.after(() => backend.close());
  const dir = mkdtempSync(join(tmpdir(), 'lb-compression-'));
  const file = join(dir, 'lb.yaml');
  writeFileSync(file, JSON.stringify({
    routes: [
      { name: 'off', matches: [{ path: { type: 'PathPrefix', value: '/text' }, headers: [{ name: 'x-route', value: 'off' }] }], filters: [{ type: 'Compression', compression: 'off' }], backendRefs: [{ name: 'default' }] },
      { name: 'br', matches: [{ path: { type: 'PathPrefix', value: '/text' }, headers: [{ name: 'x-route', value: 'br' }] }], filters: [{ type: 'Compression', compression: { encodings: ['br'], minSize: 100 } }], backendRefs: [{ name: 'default' }] },
      { name: 'rest', backendRefs: [{ name: 'default' }] },
    ],
  }));
  const lb = await startLb({ BACKENDS: backend.url, ...CHECKS, COMPRESSION: 'gzip' }, { args: ['--config', file] });
  t.after(() => lb.stop());
  const ae = { 'accept-encoding': 'gzip, br' };
  assert.equal((await fetchRaw(lb, '/text', ae)).headers['content-encoding'], 'gzip', 'the global setting');
  const off = await fetchRaw(lb, '/text', { ...ae, 'x-route': 'off' });
  assert.equal(off.headers['content-encoding'], undefined);
  assert.equal(off.headers.vary, 'Origin');
  const br = await fetchRaw(lb, '/text?size=500', { ...ae, 'x-route': 'br' });
  assert.equal(br.headers['content-encoding'], 'br');
  assert.deepEqual(brotliDecompressSync(br.body), TEXT.subarray(0, 500));
});

test('a bad COMPRESSION value is a configuration error (exit 2)', ENGINE_INDEPENDENT, async () => {
  const { runLb } = await import('./helpers/lb.js');
  const bad = await runLb({ COMPRESSION: 'gzip,deflate' }, ['--check']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr + bad.stdout, /COMPRESSION/);
  const zstd = await runLb({ COMPRESSION: 'zstd' }, ['--check']);
  const hasZstd = 'createZstdCompress' in (await import('node:zlib'));
  assert.equal(zstd.code, hasZstd ? 0 : 2, 'zstd where this Node has it, else an error naming the version');
});

test('COMPRESSION over HTTP/2 (TLS listener): a compressed body without a length', async (t) => {
  const ca = createCa();
  const pair = ca.issue('h2', ['localhost', '127.0.0.1']);
  const lb = await setup(t, { TLS_CERT_FILE: pair.certFile, TLS_KEY_FILE: pair.keyFile });
  const session = connect(`https://localhost:${lb.port}`, { ca: ca.cert });
  t.after(() => session.destroy());
  const stream = session.request({ ':path': '/text', 'accept-encoding': 'gzip' });
  const [headers] = await once(stream, 'response') as [IncomingHttpHeaders];
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  assert.equal(headers[':status'], 200);
  assert.equal(headers['content-encoding'], 'gzip');
  assert.equal(headers['content-length'], undefined);
  assert.equal(headers.vary, 'Origin, Accept-Encoding');
  assert.deepEqual(gunzipSync(Buffer.concat(chunks)), TEXT);
});

test('COMPRESSION with an HTTP/2 backend (h2c): compressed on the way to an HTTP/1.1 client, trailers after the body', async (t) => {
  const backend = await startH2Backend(t, 'h2', (stream, headers) => {
    if (headers[':path'] === '/health') { stream.respond({ ':status': 200 }); stream.end(); return; }
    stream.respond({ ':status': 200, 'content-type': 'application/json', etag: '"h2"' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-sum': 'ok' }));
    stream.end(TEXT);
  });
  const lb = await startLb({ BACKENDS: backend.entry, ...CHECKS, COMPRESSION: 'gzip' });
  t.after(() => lb.stop());
  const req = request({ host: '127.0.0.1', port: lb.port, path: '/json', headers: { 'accept-encoding': 'gzip', te: 'trailers' } });
  req.end();
  const [res] = await once(req, 'response') as [IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  assert.equal(res.headers['content-encoding'], 'gzip');
  assert.equal(res.headers.etag, 'W/"h2"');
  assert.equal(res.headers.vary, 'Accept-Encoding');
  assert.deepEqual(gunzipSync(Buffer.concat(chunks)), TEXT);
  assert.equal(res.trailers['x-sum'], 'ok');
});

test('a client that leaves in the middle of a compressed body: the backend is let go, one access line, the next request is served', async (t) => {
  const lb = await setup(t);
  const req = request({ host: '127.0.0.1', port: lb.port, path: '/endless', headers: { 'accept-encoding': 'br' } });
  req.end();
  const [res] = await once(req, 'response') as [IncomingMessage];
  assert.equal(res.headers['content-encoding'], 'br');
  await once(res, 'data');
  const id = res.headers['x-request-id'];
  req.destroy();
  await endless.promise;
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.reqId === id);
  assert.equal(lb.logs.filter((l) => l.msg === 'request' && l.reqId === id).length, 1);
  assert.ok(Number(line.bytes) > 0);
  const next = await fetchRaw(lb, '/text', { 'accept-encoding': 'gzip' });
  assert.deepEqual(gunzipSync(next.body), TEXT);
});
