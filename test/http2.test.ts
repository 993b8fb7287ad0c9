import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { createCa } from './helpers/certs.js';
import { whenClosed } from './helpers/http.js';
import { startBackend } from './helpers/backend.js';
import { startLb, type RunningLb } from './helpers/lb.js';

const ca = createCa();
const pair = ca.issue('h2', ['localhost', '127.0.0.1']);

function h2(lb: RunningLb, t: { after(fn: () => unknown): void }): ClientHttp2Session {
  const session = connect(`https://localhost:${lb.port}`, { ca: ca.cert });
  t.after(() => session.destroy());
  return session;
}

async function exchange(session: ClientHttp2Session, headers: Record<string, string | string[]>, body?: Buffer): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  const stream = session.request(headers, { endStream: body === undefined });
  if (body !== undefined) stream.end(body);
  const [responseHeaders] = await once(stream, 'response') as [IncomingHttpHeaders];
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return { headers: responseHeaders, body: Buffer.concat(chunks) };
}

async function setup(t: { after(fn: () => unknown): void }, handler: Parameters<typeof startBackend>[1], env: Record<string, string> = {}) {
  const backend = await startBackend('b', handler);
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', TLS_CERT_FILE: pair.certFile, TLS_KEY_FILE: pair.keyFile, ...env });
  t.after(() => lb.stop());
  return { backend, lb };
}

test('HTTP/2 clients reach HTTP/1.1 backends: :authority becomes Host, no pseudo or connection headers, cookies joined', async (t) => {
  const { lb } = await setup(t, (req, res) => {
    if (req.url === '/health') { res.end(); return; }
    res.writeHead(200, [
      'Content-Type', 'application/json', 'Set-Cookie', 'a=1', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Set-Cookie', 'b=2',
    ]);
    res.end(JSON.stringify({ version: req.httpVersion, method: req.method, url: req.url, rawHeaders: req.rawHeaders }));
  });
  const session = h2(lb, t);
  const { headers, body } = await exchange(session, { ':method': 'GET', ':path': '/p?q=1', cookie: ['a=1', 'b=2'], 'x-custom': 'v' });
  assert.equal(headers[':status'], 200);
  assert.deepEqual(headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(headers.connection, undefined);
  assert.equal(headers['keep-alive'], undefined);
  assert.ok(headers['x-request-id']);
  const seen = JSON.parse(body.toString()) as { version: string; method: string; url: string; rawHeaders: string[] };
  assert.equal(seen.version, '1.1');
  assert.equal(seen.url, '/p?q=1');
  const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  assert.ok(!names.some((n) => n.startsWith(':')), `no pseudo-headers: ${names}`);
  const value = (n: string) => seen.rawHeaders.filter((_, i) => i % 2 === 1 && seen.rawHeaders[i - 1]!.toLowerCase() === n);
  assert.deepEqual(value('host'), [`localhost:${lb.port}`]);
  assert.deepEqual(value('cookie'), ['a=1; b=2']);
  assert.deepEqual(value('x-custom'), ['v']);
  assert.deepEqual(value('x-forwarded-proto'), ['https']);
  assert.equal(session.alpnProtocol, 'h2');
});

test('HTTP/2 bodies stream both ways, with and without Content-Length', async (t) => {
  const { lb } = await setup(t, (req, res) => {
    if (req.url === '/health') { res.end(); return; }
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => { bytes += c.length; hash.update(c); });
    req.on('end', () => {
      res.write(JSON.stringify({ bytes, sha256: hash.digest('hex') }));
      res.end(Buffer.alloc(5 * 1024 * 1024, 7));
    });
  });
  const session = h2(lb, t);
  const body = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);
  const expected = createHash('sha256').update(body).digest('hex');
  for (const headers of [{ ':method': 'POST', ':path': '/up' }, { ':method': 'POST', ':path': '/up', 'content-length': String(body.length) }] as Record<string, string>[]) {
    const res = await exchange(session, headers, body);
    const json = res.body.subarray(0, res.body.indexOf('}') + 1).toString();
    assert.deepEqual(JSON.parse(json), { bytes: body.length, sha256: expected });
    assert.equal(res.body.length - json.length, 5 * 1024 * 1024);
  }
});

test('cancelling an HTTP/2 stream aborts its upstream request', async (t) => {
  const { lb, backend } = await setup(t, (req, res) => { if (req.url === '/health') res.end(); }, { PROXY_TIMEOUT: '1h' });
  const session = h2(lb, t);
  const stream = session.request({ ':method': 'GET', ':path': '/hang' });
  stream.on('error', () => undefined);
  const upstream = await backend.nextRequest();
  const closed = whenClosed(upstream.socket);
  stream.close(constants.NGHTTP2_CANCEL);
  await closed; // no deadline can close it: only the cancellation
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.status === 499);
  assert.equal(line.path, '/hang');
  // The session itself carries on.
  const ok = await exchange(session, { ':method': 'GET', ':path': '/health' });
  assert.equal(ok.headers[':status'], 200);
});

test('graceful shutdown lets an HTTP/2 stream in flight finish', async (t) => {
  let release!: () => void;
  const { lb, backend } = await setup(t, (req, res) => {
    if (req.url === '/health') { res.end(); return; }
    release = () => res.end('finished');
  });
  const session = h2(lb, t);
  const pending = exchange(session, { ':method': 'GET', ':path': '/slow' });
  await backend.nextRequest();
  lb.proc.kill('SIGTERM');
  await lb.waitForLog((l) => l.msg === 'shutting down');
  release();
  const res = await pending;
  assert.equal(res.body.toString(), 'finished');
  assert.equal(await lb.exited, 0);
});

test('curl --http2 gets HTTP/2 through the balancer', async (t) => {
  const { lb } = await setup(t, (_req, res) => res.end('via curl'));
  const run = promisify(execFile);
  const { stdout } = await run('curl', ['-s', '-i', '--http2', '--cacert', ca.certFile, `https://localhost:${lb.port}/`]).catch((err: { code?: string }) => {
    if (err.code === 'ENOENT') return { stdout: 'SKIP' };
    throw err;
  });
  if (stdout === 'SKIP') { t.skip('curl is not installed'); return; }
  assert.match(stdout, /^HTTP\/2 200/);
  assert.match(stdout, /via curl$/);
});

/** Sockets in CLOSE-WAIT (the peer closed, we have not) on local `port` (Linux /proc). */
function closeWait(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(table, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(`:${hex}`) && fields[3] === '08') n++;
    }
  }
  return n;
}

test('HTTP/2 sessions closed abruptly by their client do not linger in CLOSE-WAIT: CLIENT_IDLE_TIMEOUT reaps them', { timeout: 60_000 }, async (t) => {
  const { lb } = await setup(t, (_req, res) => res.end('ok'), { CLIENT_IDLE_TIMEOUT: '500ms' });
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
  // A SETTINGS frame whose length is not a multiple of 6 (RFC 9113 §6.5): node:http2 stops reading such a session for good.
  const badSettings = Buffer.from([0, 0, 5, 4, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5]);
  const endings: [string, Buffer, 'end' | 'destroy'][] = [
    ['a broken SETTINGS frame, then FIN', Buffer.concat([preface, badSettings]), 'end'],
    ['a valid preface, then FIN', Buffer.concat([preface, settings]), 'end'],
    ['a valid preface, then RST', Buffer.concat([preface, settings]), 'destroy'],
    ['nothing, then FIN', Buffer.alloc(0), 'end'],
  ];
  for (let i = 0; i < 40; i++) {
    const [, bytes, how] = endings[i % endings.length]!;
    const socket = tlsConnect({ host: '127.0.0.1', port: lb.port, ALPNProtocols: ['h2'], ca: ca.cert, servername: 'localhost' });
    socket.on('error', () => undefined);
    await once(socket, 'secureConnect');
    if (bytes.length > 0) socket.write(bytes);
    await new Promise((resolve) => socket.write('', resolve));
    if (how === 'end') socket.end();
    else socket.destroy();
  }
  // Bounded wait for the kernel's view to settle: 40 × 250 ms.
  let lingering = closeWait(lb.port);
  for (let i = 0; i < 40 && lingering > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    lingering = closeWait(lb.port);
  }
  t.diagnostic(`sockets in CLOSE-WAIT after 40 abruptly closed HTTP/2 sessions: ${lingering}`);
  assert.equal(lingering, 0);
  // The listener still serves HTTP/2.
  const res = await exchange(h2(lb, t), { ':method': 'GET', ':path': '/' });
  assert.equal(res.body.toString(), 'ok');
});

test('HTTP/2: CONNECT gets 400 and OPTIONS * is answered by the balancer; neither reaches a backend', async (t) => {
  const { lb, backend } = await setup(t, (_req, res) => res.end('ok'));
  const session = h2(lb, t);
  const connectStream = session.request({ ':method': 'CONNECT', ':authority': 'example.test:443' });
  const [connectHeaders] = await once(connectStream, 'response') as [IncomingHttpHeaders];
  connectStream.resume();
  assert.equal(connectHeaders[':status'], 400);
  const options = await exchange(session, { ':method': 'OPTIONS', ':path': '*' });
  assert.equal(options.headers[':status'], 200);
  assert.equal(options.body.length, 0);
  assert.equal(backend.requests.filter((r) => r.url !== '/health').length, 0);
});

/** An HTTP/2 session over a TLS socket the test holds, so that it can end the socket its own way. */
async function h2WithSocket(lb: RunningLb, t: { after(fn: () => unknown): void }): Promise<{ session: ClientHttp2Session; socket: import('node:tls').TLSSocket }> {
  let socket: import('node:tls').TLSSocket | undefined;
  const session = connect(`https://localhost:${lb.port}`, {
    ca: ca.cert,
    createConnection: () => (socket = tlsConnect({ host: '127.0.0.1', port: lb.port, ca: ca.cert, servername: 'localhost', ALPNProtocols: ['h2'] })),
  });
  session.on('error', () => undefined);
  t.after(() => session.destroy());
  await once(session, 'connect');
  return { session, socket: socket! };
}

/** SIGTERM, then the exit: whether shutdown had requests to cut. */
async function stopAndCut(lb: RunningLb): Promise<{ cut: unknown; timeoutLines: number }> {
  await lb.stop('SIGTERM');
  return { cut: lb.logs.find((l) => l.msg === 'stopped')?.cut, timeoutLines: lb.logs.filter((l) => l.msg === 'shutdown timeout reached: requests cut').length };
}

test('HTTP/2 streams a client abandons end: answered whole before their request body, reset, or their socket gone; nothing stays in flight', async (t) => {
  const big = 1 << 20;
  const { lb } = await setup(t, (req, res) => {
    req.resume();
    if (req.url === '/health') { res.end(); return; }
    // Answers at once, whatever remains of the request body.
    res.end(req.url!.startsWith('/big') ? Buffer.alloc(big, 97) : 'early');
  });
  const ended: Promise<unknown>[] = [];
  const request = (session: ClientHttp2Session, path: string, endStream: boolean): import('node:http2').ClientHttp2Stream => {
    const stream = session.request({ ':method': endStream ? 'GET' : 'POST', ':path': path }, { endStream });
    stream.on('error', () => undefined);
    if (!endStream) stream.write('part of a body that never ends');
    return stream;
  };
  // 1. Bodies never ended, responses complete: read whole, then the client does nothing more,
  //    on one session, and sends GOAWAY on another.
  for (const goaway of [false, true]) {
    const { session } = await h2WithSocket(lb, t);
    const responses: Promise<unknown>[] = [];
    for (const path of ['/early', '/big']) {
      const stream = request(session, `${path}-${goaway ? 'goaway' : 'hold'}`, false);
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      responses.push(once(stream, 'response'));
      ended.push(once(stream, 'end').then(() => {
        assert.equal(Buffer.concat(chunks).length, path === '/big' ? big : 5, `${path}: the response whole`);
      }));
    }
    // GOAWAY once the streams are under way (before, the client would refuse them itself).
    if (goaway) { await Promise.all(responses); session.close(); }
  }
  await Promise.all(ended);
  // 2. Streams reset by the client, and a session whose socket the client destroys, a body half sent.
  const slow = await setup(t, (req) => { req.resume(); if (req.url === '/health') req.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'); });
  const reset = await h2WithSocket(slow.lb, t);
  const gone = await h2WithSocket(slow.lb, t);
  for (const [i, stream] of [request(reset.session, '/reset-get', true), request(reset.session, '/reset-post', false), request(gone.session, '/gone-get', true), request(gone.session, '/gone-post', false)].entries()) {
    await slow.backend.nextRequest();
    if (i < 2) stream.close(constants.NGHTTP2_CANCEL);
  }
  gone.socket.destroy();
  // SIGTERM now: shutdown waits for what is in flight, by event, up to SHUTDOWN_TIMEOUT (then cuts it).
  for (const balancer of [lb, slow.lb]) assert.deepEqual(await stopAndCut(balancer), { cut: 0, timeoutLines: 0 }, 'nothing left in flight to cut');
  const paths = (balancer: RunningLb) => balancer.logs.filter((l) => l.msg === 'request').map((l) => l.path as string).sort();
  assert.deepEqual(paths(lb), ['/big-goaway', '/big-hold', '/early-goaway', '/early-hold'], 'one access line each');
  assert.deepEqual(paths(slow.lb), ['/gone-get', '/gone-post', '/reset-get', '/reset-post'], 'one access line each');
});

test('HTTP/2: a session whose client stops reading is closed after CLIENT_IDLE_TIMEOUT (GOAWAY), then destroyed; its request is not left in flight', async (t) => {
  const { lb } = await setup(t, (req, res) => {
    req.resume();
    res.end(req.url === '/health' ? '' : Buffer.alloc(4 << 20, 97));
  }, { CLIENT_IDLE_TIMEOUT: '500ms' });
  const { session } = await h2WithSocket(lb, t);
  const stream = session.request({ ':method': 'GET', ':path': '/unread' });
  stream.on('error', () => undefined);
  stream.pause(); // flow control stops the response: no frame moves either way
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/unread', 60_000);
  assert.equal(line.error, 'LB_ERR_CLIENT_CLOSED');
  assert.deepEqual(await stopAndCut(lb), { cut: 0, timeoutLines: 0 }, 'nothing left in flight to cut');
});
