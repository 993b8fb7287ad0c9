import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { get, rawConnect, rawExchange, whenClosed } from './helpers/http.js';
import { startBackend, type TestBackend } from './helpers/backend.js';
import { startInProcess } from './helpers/in-process-lb.js';

const MiB = 1024 * 1024;
/** Long enough that a request waiting for a connection would hang the test instead of getting 504. */
const NEVER = '1h';

/**
 * Streams `size` bytes with backpressure. `heldUp` is called once a write has waited 200 ms for
 * 'drain': by then the balancer has stopped reading (its client reads nothing).
 */
function bigResponse(res: ServerResponse, size: number, heldUp: () => void): void {
  const chunk = Buffer.alloc(64 * 1024, 120);
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  res.setHeader('content-length', size);
  res.on('close', () => clearTimeout(timer));
  const pump = (): void => {
    clearTimeout(timer);
    while (sent < size) {
      sent += chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        timer = setTimeout(heldUp, 200);
        return;
      }
    }
    res.end();
  };
  pump();
}

interface Recorder {
  readonly backend: TestBackend;
  /** Resolves once the backend has received `n` requests for `path`. */
  started(path: string, n: number): Promise<void>;
  /** Resolves when the backend's first response for `path` is over: finished, or cut. */
  ended(path: string): Promise<{ finished: boolean }>;
}

/** Backend: `/big` is 64 MiB, `/quarter` 256 KiB, `/slow-small` 256 KiB once `/big` has been held up, anything else a few bytes. */
async function bigAndSmall(t: { after(fn: () => unknown): void }): Promise<Recorder> {
  const counts = new Map<string, number>();
  const arrivals: { path: string; n: number; resolve: () => void }[] = [];
  const endings = new Map<string, { promise: Promise<{ finished: boolean }>; resolve: (v: { finished: boolean }) => void }>();
  const ending = (path: string) => {
    let entry = endings.get(path);
    if (entry === undefined) {
      let resolve!: (v: { finished: boolean }) => void;
      const promise = new Promise<{ finished: boolean }>((r) => { resolve = r; });
      endings.set(path, entry = { promise, resolve });
    }
    return entry;
  };
  let bigHeldUp!: () => void;
  const heldUp = new Promise<void>((resolve) => { bigHeldUp = resolve; });
  const backend = await startBackend('b', (req, res) => {
    req.resume();
    const path = req.url ?? '';
    counts.set(path, (counts.get(path) ?? 0) + 1);
    for (const w of [...arrivals]) if (w.path === path && counts.get(path)! >= w.n) { arrivals.splice(arrivals.indexOf(w), 1); w.resolve(); }
    res.on('close', () => ending(path).resolve({ finished: res.writableFinished }));
    if (path === '/big') bigResponse(res, 64 * MiB, bigHeldUp);
    else if (path === '/slow-small') void heldUp.then(() => res.end('x'.repeat(256 * 1024)));
    else if (path === '/quarter') res.end('x'.repeat(256 * 1024));
    else res.end('small');
  });
  t.after(() => backend.close());
  return {
    backend,
    started: (path, n) => ((counts.get(path) ?? 0) >= n ? Promise.resolve() : new Promise((resolve) => arrivals.push({ path, n, resolve }))),
    ended: (path) => ending(path).promise,
  };
}

/** A client that asks for `path` and then reads nothing. */
async function nonReader(port: number, path: string): Promise<Socket> {
  const socket = await rawConnect(port);
  socket.pause();
  socket.on('error', () => undefined);
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  return socket;
}

test('1,000 requests in forms undici cannot send leave no connection busy: normal traffic flows at once', { timeout: 120_000 }, async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  // One idle connection per backend and no deadline worth the name: a leaked connection would hang the last GET.
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', HTTP_MAX_IDLE_CONNS_PER_HOST: '1', PROXY_TIMEOUT: NEVER });
  t.after(() => lb.stop());
  const forms: [string, RegExp][] = [
    ['OPTIONS * HTTP/1.1', /^HTTP\/1\.1 200 /],
    ['GET * HTTP/1.1', /^HTTP\/1\.1 400 /],
    ['GET http://example.test:1234/abs?x=y HTTP/1.1', /^HTTP\/1\.1 200 /],
    ['GET ftp://example.test/x HTTP/1.1', /^HTTP\/1\.1 400 /],
    ['GET http://user@example.test/x HTTP/1.1', /^HTTP\/1\.1 400 /],
    ['GET http:///x HTTP/1.1', /^HTTP\/1\.1 400 /],
    ['GET example.test:80 HTTP/1.1', /^HTTP\/1\.1 400 /],
    ['CONNECT example.test:443 HTTP/1.1', /^HTTP\/1\.1 400 /],
  ];
  const forwarded = (): number => backend.requests.filter((r) => r.url !== '/health').length;
  let absolute = 0;
  const worker = async (w: number): Promise<void> => {
    for (let i = w; i < 1000; i += 10) {
      const [line, expected] = forms[i % forms.length]!;
      if (line.includes('/abs')) absolute++;
      const response = await rawExchange(lb.port, `${line}\r\nHost: a\r\nConnection: close\r\n\r\n`);
      assert.match(response, expected, `${line} → ${JSON.stringify(response.slice(0, 40))}`);
    }
  };
  await Promise.all(Array.from({ length: 10 }, (_, w) => worker(w)));
  assert.equal(forwarded(), absolute, 'only the absolute-form requests reached the backend');
  assert.ok(backend.requests.filter((r) => r.url !== '/health').every((r) => r.url === '/abs?x=y'), 'all of them in origin-form');
  for (let i = 0; i < 5; i++) assert.equal((await get(lb.url)).body, 'b');
});

test('an absolute-form target is forwarded in origin-form, with Host taken from its authority (RFC 9112 §3.2.2)', async (t) => {
  const backend = await startBackend('echo', (req, res) => {
    res.end(JSON.stringify({ url: req.url, host: req.headers.host, xfh: req.headers['x-forwarded-host'], fwd: req.headers.forwarded }));
  });
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url });
  t.after(() => lb.stop());
  for (const [target, path, host] of [
    ['http://example.test:1234/abs?x=y', '/abs?x=y', 'example.test:1234'],
    ['HTTPS://Example.test?q=1', '/?q=1', 'Example.test'],
    ['http://[::1]:8080', '/', '[::1]:8080'],
  ] as const) {
    const response = await rawExchange(lb.port, `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
    assert.match(response, /^HTTP\/1\.1 200 /);
    const seen = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
    assert.equal(seen.url, path);
    assert.equal(seen.host, host);
    assert.equal(seen.xfh, host);
    assert.match(seen.fwd!, new RegExp(`host="${host.replace(/[[\]]/g, '\\$&')}"`));
  }
});

test('OPTIONS * is answered by the balancer itself, with an access line, and never takes a backend connection', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health' });
  t.after(() => lb.stop());
  const response = await rawExchange(lb.port, 'OPTIONS * HTTP/1.1\r\nHost: a\r\nX-Request-Id: opt-1\r\nConnection: close\r\n\r\n');
  assert.match(response, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(response, /\r\ncontent-length: 0\r\n/i);
  assert.match(response, /\r\nx-request-id: opt-1\r\n/i);
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.reqId === 'opt-1');
  assert.equal(line.path, '*');
  assert.equal(line.status, 200);
  assert.equal(line.backend, undefined);
  assert.equal(backend.requests.filter((r) => r.url !== '/health').length, 0);
});

test('slow readers do not starve other clients of upstream connections', { timeout: 120_000 }, async (t) => {
  const { backend, started } = await bigAndSmall(t);
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', HTTP_MAX_IDLE_CONNS_PER_HOST: '1', PROXY_TIMEOUT: NEVER });
  t.after(() => lb.stop());
  // Five clients hold a 64 MiB response each and read none of it: each pins its upstream connection.
  const readers = await Promise.all(Array.from({ length: 5 }, () => nonReader(lb.port, '/big')));
  await started('/big', 5);
  for (let i = 0; i < 20; i++) assert.equal((await get(`${lb.url}/small`)).body, 'small');
  for (const r of readers) r.destroy();
});

test('CLIENT_SEND_TIMEOUT: a client that takes none of its response is cut, and so is its upstream request', { timeout: 120_000 }, async (t) => {
  const { backend, ended, started } = await bigAndSmall(t);
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', CLIENT_SEND_TIMEOUT: '500ms' });
  t.after(() => lb.stop());
  const reader = await nonReader(lb.port, '/big');
  await started('/big', 1);
  // The access line comes when the balancer gives up on the client, which has read nothing yet.
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/big', 60_000);
  assert.equal(line.error, 'LB_ERR_CLIENT_SEND_TIMEOUT');
  assert.equal(line.status, 200, 'the status the client was sent');
  assert.deepEqual(await ended('/big'), { finished: false }, 'the backend saw its response aborted');
  let received = 0;
  reader.on('data', (c: Buffer) => { received += c.length; });
  await whenClosed(reader);
  assert.ok(received < 64 * MiB, `the client got ${received} bytes, then the connection closed`);
  assert.equal((await get(`${lb.url}/small`)).body, 'small');
});

test('a pipelined response that takes over a paused connection never re-enters undici (was a 500)', { timeout: 120_000 }, async (t) => {
  const { backend, ended } = await bigAndSmall(t);
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', CLIENT_SEND_TIMEOUT: '0' });
  t.after(() => lb.stop());
  const socket = await rawConnect(lb.port);
  socket.pause();
  socket.on('error', () => undefined);
  // The second response arrives while the first is paused on this client: node:http then emits
  // the first one's 'drain' from inside the second one's write, inside undici's parser.
  socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /slow-small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await ended('/slow-small');
  let bytes = 0;
  socket.on('data', (c: Buffer) => { bytes += c.length; });
  await whenClosed(socket);
  assert.ok(bytes > 64 * MiB + 256 * 1024, `${bytes} bytes`);
  const lines = await Promise.all(['/big', '/slow-small'].map((path) => lb.waitForLog((l) => l.msg === 'request' && l.path === path)));
  assert.deepEqual(lines.map((l) => [l.status, l.error]), [[200, undefined], [200, undefined]]);
  assert.equal(lb.logs.filter((l) => l.error === 'LB_ERR_INTERNAL' || l.code === 'LB_ERR_INTERNAL').length, 0);
});

test('CLIENT_SEND_TIMEOUT judges a pipelined client by the response it is reading, not by the one queued behind it', { timeout: 120_000 }, async (t) => {
  const { backend } = await bigAndSmall(t);
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', CLIENT_SEND_TIMEOUT: '300ms' });
  t.after(() => lb.stop());
  const socket = await rawConnect(lb.port);
  socket.on('error', () => undefined);
  let bytes = 0;
  socket.on('data', (c: Buffer) => { bytes += c.length; });
  socket.pause();
  socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /quarter HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  // Reads in short bursts with pauses of 100 ms: always some progress, for several send timeouts in all.
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let open = true;
  void closed.then(() => { open = false; });
  while (open) {
    socket.resume();
    await new Promise((resolve) => setTimeout(resolve, 2));
    socket.pause();
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 100))]);
  }
  assert.ok(bytes > 64 * MiB + 256 * 1024, `both responses arrived whole (${bytes} bytes)`);
  const lines = await Promise.all(['/big', '/quarter'].map((path) => lb.waitForLog((l) => l.msg === 'request' && l.path === path)));
  assert.deepEqual(lines.map((l) => [l.status, l.error]), [[200, undefined], [200, undefined]]);
});

/** Sends a request head, then `chunks` body chunks `gapMs` apart; resolves with the raw response once the balancer closes. */
async function trickle(port: number, head: string, chunks: Buffer[], gapMs: number): Promise<string> {
  const socket = await rawConnect(port);
  socket.setEncoding('latin1');
  socket.on('error', () => undefined);
  let response = '';
  socket.on('data', (c: string) => { response += c; });
  const closed = whenClosed(socket);
  socket.write(head);
  for (const chunk of chunks) {
    if (socket.destroyed || response !== '') break;
    await new Promise((resolve) => setTimeout(resolve, gapMs));
    socket.write(chunk);
  }
  await closed;
  return response;
}

test('PROXY_TIMEOUT starts once the request is sent: a slow upload the backend would answer gets 200, not 504', { timeout: 120_000 }, async (t) => {
  const backend = await startBackend('count', (req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => { bytes += c.length; });
    req.on('end', () => res.end(String(bytes)));
  });
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url, PROXY_TIMEOUT: '1s', CLIENT_BODY_TIMEOUT: '10s' });
  t.after(() => lb.stop());
  // 30 KiB in 30 pieces 100 ms apart: three times PROXY_TIMEOUT in all, never a long pause.
  const chunks = Array.from({ length: 30 }, () => Buffer.alloc(1024, 97));
  const response = await trickle(lb.port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${30 * 1024}\r\nConnection: close\r\n\r\n`, chunks, 100);
  assert.match(response, /^HTTP\/1\.1 200 /);
  assert.ok(response.endsWith(String(30 * 1024)), response.slice(-40));
});

test('CLIENT_BODY_TIMEOUT: a client that stops sending its body gets 408, and its upstream request is aborted', { timeout: 120_000 }, async (t) => {
  let upstream!: (aborted: boolean) => void;
  const upstreamEnded = new Promise<boolean>((resolve) => { upstream = resolve; });
  const backend = await startBackend('b', (req, res) => {
    if (req.url === '/health') { res.end(); return; }
    req.resume();
    req.on('end', () => res.end('complete'));
    res.on('close', () => upstream(!res.writableFinished));
  });
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', CLIENT_BODY_TIMEOUT: '500ms', PROXY_TIMEOUT: NEVER });
  t.after(() => lb.stop());
  const response = await trickle(lb.port, 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n', [Buffer.from('only ten b')], 0);
  assert.match(response, /^HTTP\/1\.1 408 /);
  assert.match(response, /\r\nconnection: close\r\n/i);
  assert.equal(await upstreamEnded, true, 'the backend saw the request cut');
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/upload');
  assert.deepEqual([line.status, line.error], [408, 'LB_ERR_CLIENT_BODY_TIMEOUT']);
});

test('a backend that takes none of a request body and never answers gets 504 after PROXY_TIMEOUT', { timeout: 120_000 }, async (t) => {
  const backend = await startBackend('deaf', (req, res) => {
    if (req.url === '/health') res.end();
    else req.pause(); // reads nothing, answers nothing
  });
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', PROXY_TIMEOUT: '500ms', CLIENT_BODY_TIMEOUT: NEVER });
  t.after(() => lb.stop());
  const req = request(`${lb.url}/upload`, { method: 'POST', agent: false, headers: { 'content-length': 256 * MiB } });
  req.on('error', () => undefined);
  const chunk = Buffer.alloc(MiB);
  const pump = (): void => { while (!req.destroyed && req.write(chunk)); };
  req.on('drain', pump);
  pump();
  const [res] = await once(req, 'response') as [IncomingMessage];
  res.resume();
  req.destroy();
  assert.equal(res.statusCode, 504);
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/upload');
  assert.equal(line.error, 'LB_ERR_UPSTREAM_TIMEOUT');
});

test('pipelined requests cut by the client\'s FIN each end with one access line, and nothing stays in flight', async (t) => {
  // The backend never answers: the client's FIN is what ends both requests, whenever the
  // balancer reads it (before or after the requests reach the backend).
  const backend = await startBackend('b', (req, res) => {
    req.resume();
    if (req.url === '/health') res.end();
  });
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health' });
  t.after(() => lb.stop());
  const socket = await rawConnect(lb.port);
  socket.on('error', () => undefined);
  socket.end('GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /queued HTTP/1.1\r\nHost: a\r\n\r\n');
  await whenClosed(socket);
  // node:http never closes the queued second response when the connection goes: it used to stay in flight for good.
  const lines = await Promise.all(['/first', '/queued'].map((path) => lb.waitForLog((l) => l.msg === 'request' && l.path === path)));
  assert.deepEqual(lines.map((l) => l.status), [499, 499]);
  await lb.stop();
  const stopped = await lb.waitForLog((l) => l.msg === 'stopped');
  assert.equal(stopped.cut, 0, 'nothing was left in flight to cut at shutdown');
});
