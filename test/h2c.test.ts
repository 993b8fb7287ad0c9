import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { promisify } from 'node:util';
import { startBackend, startBackends, type Handler } from './helpers/backend.js';
import { startH2Backend } from './helpers/h2-backend.js';
import { get, rawConnect, rawExchange, whenClosed } from './helpers/http.js';
import { startLb, type RunningLb } from './helpers/lb.js';

/**
 * h2c with prior knowledge (RFC 9113 §3.3) on the plain listener, beside HTTP/1.1 on the same
 * port, on the engine TEST_ENGINE names (the fast one by default).
 */

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

function h2c(lb: RunningLb, t: { after(fn: () => unknown): void }): ClientHttp2Session {
  const session = connect(`http://127.0.0.1:${lb.port}`);
  session.on('error', () => undefined);
  t.after(() => session.destroy());
  return session;
}

async function exchange(session: ClientHttp2Session, headers: Record<string, string>, body?: string): Promise<{ headers: IncomingHttpHeaders; body: string }> {
  const stream = session.request(headers, { endStream: body === undefined });
  if (body !== undefined) stream.end(body);
  const [responseHeaders] = await once(stream, 'response') as [IncomingHttpHeaders];
  stream.setEncoding('latin1');
  let text = '';
  for await (const c of stream) text += c as string;
  return { headers: responseHeaders, body: text };
}

async function setup(t: { after(fn: () => unknown): void }, backends: readonly string[], env: Record<string, string> = {}): Promise<RunningLb> {
  const lb = await startLb({ BACKENDS: backends.join(','), HEALTH_CHECK_PATH: '/health', ...env });
  t.after(() => lb.stop());
  return lb;
}

/** Answers the request's HTTP version, method, path and body as JSON (`/health` 200). */
const echo: Handler = (req, res) => {
  let body = '';
  req.setEncoding('latin1');
  req.on('data', (c: string) => { body += c; });
  req.on('end', () => {
    res.setHeader('x-backend', 'echo');
    res.end(JSON.stringify({ version: req.httpVersion, method: req.method, url: req.url, body, headers: req.headers }));
  });
};

test('curl --http2-prior-knowledge gets HTTP/2 on the plain port; the access line says so', async (t) => {
  const backend = await startBackend('b', echo);
  t.after(() => backend.close());
  const lb = await setup(t, [backend.url]);
  const run = promisify(execFile);
  const { stdout } = await run('curl', ['-s', '-i', '--http2-prior-knowledge', '-d', 'hello', `http://127.0.0.1:${lb.port}/c?q=1`]);
  assert.match(stdout, /^HTTP\/2 200/);
  assert.match(stdout, /^x-request-id: /m);
  const seen = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { version: string; method: string; url: string; body: string; headers: Record<string, string> };
  assert.deepEqual([seen.version, seen.method, seen.url, seen.body], ['1.1', 'POST', '/c?q=1', 'hello']);
  assert.equal(seen.headers.host, `127.0.0.1:${lb.port}`, ':authority becomes Host');
  assert.equal(seen.headers['x-forwarded-proto'], 'http');
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/c?q=1');
  assert.deepEqual([line.method, line.status, line.protocol], ['POST', 200, 'HTTP/2']);
});

test('node:http2 with prior knowledge: many streams on one connection are spread over the pool, HTTP/1.1 on the same port in between', async (t) => {
  const backends = await startBackends(t);
  const lb = await setup(t, backends.map((b) => b.url));
  const listening = await lb.waitForLog((l) => l.msg === 'listening');
  assert.equal(listening.engine, process.env.TEST_ENGINE ?? 'fast', 'the engine under test serves the port');
  const session = h2c(lb, t);
  const first = await Promise.all(Array.from({ length: 6 }, (_, i) => exchange(session, { ':method': 'GET', ':path': `/s${i}` })));
  // An HTTP/1.1 connection and a second h2c one interleave with the first.
  const h1 = await get(`${lb.url}/h1`);
  assert.equal(h1.status, 200);
  const other = h2c(lb, t);
  const second = await Promise.all([
    ...Array.from({ length: 3 }, (_, i) => exchange(session, { ':method': 'GET', ':path': `/t${i}` })),
    ...Array.from({ length: 2 }, (_, i) => exchange(other, { ':method': 'GET', ':path': `/u${i}` })),
  ]);
  const names = [...first, ...second].map((r) => r.body);
  names.push(h1.body);
  for (const r of [...first, ...second]) assert.equal(r.headers[':status'], 200);
  const counts = Object.fromEntries(backends.map((b) => [b.name, names.filter((n) => n === b.name).length]));
  assert.deepEqual(counts, { a: 4, b: 4, c: 4 }, 'round robin per request, whatever the connection');
  assert.equal(session.socket.remotePort, lb.port);
});

test('h2c clients reach h2c backends (proto=h2c)', async (t) => {
  const a = await startH2Backend(t, 'a');
  const b = await startH2Backend(t, 'b');
  const lb = await setup(t, [a.entry, b.entry], { HEALTH_CHECK_PATH: '/' });
  const session = h2c(lb, t);
  const bodies = await Promise.all(Array.from({ length: 4 }, (_, i) => exchange(session, { ':method': 'POST', ':path': `/g${i}` }, 'x').then((r) => r.body)));
  assert.deepEqual(bodies.sort(), ['ax', 'ax', 'bx', 'bx']);
  const h1 = await get(`${lb.url}/h1`);
  assert.equal(h1.status, 200);
});

test('a partial preface that stalls is closed at HEADER_TIMEOUT; a preface after a request is refused', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await setup(t, [backend.url], { HEADER_TIMEOUT: '300ms' });
  const socket = await rawConnect(lb.port);
  let answer = '';
  socket.setEncoding('latin1').on('data', (c: string) => { answer += c; });
  const closed = whenClosed(socket);
  socket.write(PREFACE.slice(0, 16));
  await closed;
  assert.match(answer, /^(HTTP\/1\.1 408 |$)/, `nothing, or a 408: ${JSON.stringify(answer)}`);
  const late = await rawExchange(lb.port, `GET / HTTP/1.1\r\nHost: a\r\n\r\n${PREFACE}`, 2);
  assert.match(late, /^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 400 /);
});

test('Upgrade: h2c is not taken up: the request is answered over HTTP/1.1 without HTTP2-Settings reaching the backend', async (t) => {
  const backend = await startBackend('b', echo);
  t.after(() => backend.close());
  const lb = await setup(t, [backend.url]);
  const res = await get(`${lb.url}/up`, { headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA' } });
  assert.equal(res.status, 200);
  const seen = JSON.parse(res.body) as { version: string; headers: Record<string, string> };
  assert.equal(seen.version, '1.1');
  assert.equal(seen.headers['http2-settings'], undefined);
});

test('graceful shutdown: h2c sessions get GOAWAY, a stream in flight finishes', async (t) => {
  let release!: () => void;
  const backend = await startBackend('b', (req, res) => {
    if (req.url === '/health') { res.end(); return; }
    release = () => res.end('finished');
  });
  t.after(() => backend.close());
  const lb = await setup(t, [backend.url]);
  const session = h2c(lb, t);
  const goaway = once(session, 'goaway');
  const pending = exchange(session, { ':method': 'GET', ':path': '/slow' });
  await backend.nextRequest();
  lb.proc.kill('SIGTERM');
  await goaway;
  release();
  const res = await pending;
  assert.deepEqual([res.headers[':status'], res.body], [200, 'finished']);
  assert.equal(await lb.exited, 0);
  const line = lb.logs.find((l) => l.msg === 'request' && l.path === '/slow');
  assert.equal(line?.status, 200);
});
