// @engine-independent: HTTP/2 backends and a TLS listener mean the node engine
// gRPC in the proxy core: grpc-timeout as the deadline, UNAVAILABLE in the status policy
// (outlier detection, retries), gRPC status metrics and access lines, gRPC answers from the
// router and the listener.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, constants, type IncomingHttpHeaders } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { strategyNames } from '../src/balancer/index.js';
import { envLayer, resolveConfig } from '../src/config/index.js';
import { LoadBalancer } from '../src/index.js';
import { createCa } from './helpers/certs.js';
import { echo, type EchoClient, type Msg } from './helpers/grpc-echo.js';
import { startH2Backend } from './helpers/h2-backend.js';
import { startInProcess } from './helpers/in-process-lb.js';
import { until } from './helpers/in-process.js';

const ca = createCa();
const cert = ca.issue('lb-grpc-core', ['localhost', '127.0.0.1']);
const TLS = { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile };


type Context = { after(fn: () => unknown): void };
type LogLine = Record<string, unknown>;

interface GrpcBackend { entry: string; calls: number; texts: string[]; cancelled: number }
type Unary = (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>, state: GrpcBackend) => void;

/** Answers with its name and the request's text. */
const answerName = (name: string): Unary => (call, cb) => cb(null, { text: `${name}:${call.request.text}` });

/** A grpc-js server on h2c (`proto=h2c`, id `name`): counts its calls, the texts it got and the calls cancelled under it. */
async function startGrpcBackend(t: Context, name: string, unary: Unary = answerName(name)): Promise<GrpcBackend> {
  const state: GrpcBackend = { entry: '', calls: 0, texts: [], cancelled: 0 };
  const server = new grpc.Server();
  server.addService(echo.service, {
    Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      state.calls++;
      state.texts.push(call.request.text);
      call.on('cancelled', () => { state.cancelled++; });
      unary(call, cb, state);
    },
    Stream: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      call.write({ text: `${name}:${call.request.text}` });
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  t.after(() => server.forceShutdown());
  state.entry = `http://127.0.0.1:${port}|proto=h2c|id=${name}`;
  return state;
}

interface Lb { lb: LoadBalancer; port: number; logs: LogLine[]; client: EchoClient }

/**
 * The balancer in this process on TLS (h2 by ALPN), every backend up (no health checks), no
 * outlier detection and no retries unless `env` says so, its log lines kept; and a grpc-js
 * client channel to it.
 */
async function balancer(t: Context, backends: string[], env: Record<string, string> = {}): Promise<Lb> {
  const config = resolveConfig([envLayer({
    HOST: '127.0.0.1', PORT: '0', ENGINE: 'node', BACKENDS: backends.join(','), STRATEGY: 'round-robin',
    OUTLIER_CONSECUTIVE_FAILURES: '0', SHUTDOWN_TIMEOUT: '500ms', RETRIES: '0', ...TLS, ...env,
  })], strategyNames());
  const logs: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => { logs.push(JSON.parse(line) as LogLine); } });
  const lb = new LoadBalancer(config, { logger, externalHealth: true });
  for (const backend of lb.pool.backends) lb.pool.setHealth(backend, true);
  const { port } = await lb.start();
  t.after(() => lb.stop());
  return { lb, port, logs, client: client(t, port) };
}

/** A grpc-js channel to the balancer, named localhost for TLS (Node 26 refuses an IP address as the server name). */
function client(t: Context, port: number): EchoClient {
  const c = new echo(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(ca.cert)), { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' }) as unknown as EchoClient;
  t.after(() => c.close());
  return c;
}

function unary(c: EchoClient, text: string, options: grpc.CallOptions = {}, metadata = new grpc.Metadata()): Promise<{ err: grpc.ServiceError | null; res?: Msg }> {
  return new Promise((resolve) => {
    c.Unary({ text }, metadata, options, (err, res) => setImmediate(() => resolve({ err, res })));
  });
}

/**
 * One gRPC call made by hand over HTTP/2 (no client-side deadline: what the balancer answers is
 * what comes back): the response head, and the trailers when the head did not end the stream.
 */
async function rawCall(port: number, headers: Record<string, string>): Promise<{ head: IncomingHttpHeaders; status: IncomingHttpHeaders }> {
  const session = connect(`https://127.0.0.1:${port}`, { ca: ca.cert, servername: 'localhost' });
  session.on('error', () => undefined);
  try {
    const stream = session.request({ ':method': 'POST', ':path': '/lbtest.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers', ...headers });
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
    return await new Promise<{ head: IncomingHttpHeaders; status: IncomingHttpHeaders }>((resolve, reject) => {
      let head: IncomingHttpHeaders | undefined;
      stream.on('response', (h, flags) => {
        head = h;
        if ((flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0) resolve({ head: h, status: h });
      });
      stream.on('trailers', (trailers) => resolve({ head: head!, status: trailers }));
      stream.on('error', reject);
      stream.resume();
    });
  } finally {
    session.close();
  }
}

/** A series' value in a Prometheus exposition: the line of `name` whose labels include every one of `labels`. */
function metric(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('grpc-timeout is the call\'s deadline: the balancer answers DEADLINE_EXCEEDED and cancels the backend\'s stream', async (t) => {
  const closed: number[] = [];
  const silent = await startH2Backend(t, 'silent', (stream) => {
    stream.resume();
    stream.on('close', () => closed.push(stream.rstCode ?? -1));
  });
  const { port, logs } = await balancer(t, [silent.entry], { PROXY_TIMEOUT: '20s' });
  const { status } = await rawCall(port, { 'grpc-timeout': '300m' });
  assert.equal(status['grpc-status'], '4');
  assert.match(String(status['grpc-message']), /grpc-timeout/);
  await until(() => closed.length === 1, 'the backend\'s stream closed');
  assert.equal(closed[0], constants.NGHTTP2_CANCEL, 'RST_STREAM(CANCEL) reached the backend');
  assert.equal(silent.streams[0]!.headers['grpc-timeout'], '300m', 'the deadline goes on to the backend');
  await until(() => logs.some((l) => l.msg === 'request'), 'the access line');
  const line = logs.find((l) => l.msg === 'request')!;
  assert.deepEqual([line.status, line.grpcStatus, line.error], [200, 4, 'LB_ERR_GRPC_DEADLINE']);
});

test('a grpc-js client\'s deadline shorter than the backend takes: DEADLINE_EXCEEDED, and the backend sees its call cancelled', async (t) => {
  const slow = await startGrpcBackend(t, 'slow', () => undefined);
  const { client: c } = await balancer(t, [slow.entry], { PROXY_TIMEOUT: '20s' });
  const { err } = await unary(c, 'x', { deadline: Date.now() + 400 });
  assert.equal(err?.code, grpc.status.DEADLINE_EXCEEDED);
  await until(() => slow.cancelled > 0, 'the backend\'s call cancelled');
});

test('grpc-timeout is capped by REQUEST_TIMEOUT; a malformed one is ignored', async (t) => {
  const closed: number[] = [];
  const silent = await startH2Backend(t, 'silent', (stream) => {
    stream.resume();
    stream.on('close', () => closed.push(stream.rstCode ?? -1));
  });
  const { port } = await balancer(t, [silent.entry], { PROXY_TIMEOUT: '20s', REQUEST_TIMEOUT: '400ms' });
  const cases: [timeout: string, reason: RegExp][] = [['100m', /grpc-timeout/], ['30S', /REQUEST_TIMEOUT/], ['1.5S', /REQUEST_TIMEOUT/], ['123456789m', /REQUEST_TIMEOUT/], ['5', /REQUEST_TIMEOUT/]];
  for (const [timeout, reason] of cases) {
    const { status } = await rawCall(port, { 'grpc-timeout': timeout });
    assert.equal(status['grpc-status'], '4', timeout);
    assert.match(String(status['grpc-message']), reason, timeout);
  }
  await until(() => closed.length === cases.length, 'every backend stream closed');
  assert.deepEqual(closed, cases.map(() => constants.NGHTTP2_CANCEL));
});

test('a call waiting in the queue (every backend full) is answered DEADLINE_EXCEEDED at its grpc-timeout, without reaching a backend', async (t) => {
  const silent = await startH2Backend(t, 'silent', (stream) => stream.resume());
  const { port } = await balancer(t, [silent.entry], { PROXY_TIMEOUT: '20s', BACKEND_MAX_REQUESTS: '1', QUEUE_TIMEOUT: '20s' });
  const first = rawCall(port, { 'grpc-timeout': '20S' });
  first.catch(() => undefined);
  await until(() => silent.streams.length === 1, 'the first call at the backend');
  const { status } = await rawCall(port, { 'grpc-timeout': '200m' });
  assert.equal(status['grpc-status'], '4');
  assert.match(String(status['grpc-message']), /grpc-timeout/);
  assert.equal(silent.streams.length, 1, 'the queued call never reached the backend');
});

test('RETRY_ON_STATUS=grpc-unavailable: a Trailers-Only UNAVAILABLE is retried on another backend (the message sent again) and the client gets OK', async (t) => {
  const a = await startGrpcBackend(t, 'a', (call, cb, state) => {
    if (state.calls === 1) cb({ code: grpc.status.UNAVAILABLE, details: 'draining' });
    else cb(null, { text: `a:${call.request.text}` });
  });
  const b = await startGrpcBackend(t, 'b');
  const { client: c, logs } = await balancer(t, [a.entry, b.entry], { RETRIES: '2', RETRY_ON_STATUS: '502,503,504,grpc-unavailable' });
  const { err, res } = await unary(c, 'first');
  assert.equal(err, null);
  assert.equal(res?.text, 'b:first');
  assert.deepEqual([a.texts, b.texts], [['first'], ['first']], 'the request message went again, whole, to the other backend');
  await until(() => logs.some((l) => l.msg === 'request'), 'the access line');
  const line = logs.find((l) => l.msg === 'request')!;
  assert.deepEqual([line.tries, line.grpcStatus, line.backend], [2, 0, 'b']);
});

test('without grpc-unavailable in RETRY_ON_STATUS (the default), UNAVAILABLE reaches the client as the backend sent it', async (t) => {
  const a = await startGrpcBackend(t, 'a', (_call, cb) => cb({ code: grpc.status.UNAVAILABLE, details: 'draining' }));
  const b = await startGrpcBackend(t, 'b');
  const { client: c } = await balancer(t, [a.entry, b.entry], { RETRIES: '2' });
  const { err } = await unary(c, 'x');
  assert.equal(err?.code, grpc.status.UNAVAILABLE);
  assert.equal(err?.details, 'draining');
  assert.deepEqual([a.calls, b.calls], [1, 0]);
});

const failures: [kind: string, fail: (cb: grpc.sendUnaryData<Msg>, call: grpc.ServerUnaryCall<Msg, Msg>) => void][] = [
  ['a Trailers-Only UNAVAILABLE', (cb) => cb({ code: grpc.status.UNAVAILABLE, details: 'down' })],
  ['UNAVAILABLE in the trailers after the response head', (cb, call) => {
    call.sendMetadata(new grpc.Metadata());
    cb({ code: grpc.status.UNAVAILABLE, details: 'down' });
  }],
];
for (const [kind, fail] of failures) {
  test(`${kind} is a gateway failure: OUTLIER_CONSECUTIVE_FAILURES of them in a row eject the backend`, async (t) => {
    const a = await startGrpcBackend(t, 'a', (call, cb) => fail(cb, call));
    const b = await startGrpcBackend(t, 'b');
    // Retries on: a response head already relayed (UNAVAILABLE in the trailers) is never retried.
    const { lb, client: c } = await balancer(t, [a.entry, b.entry], { OUTLIER_CONSECUTIVE_FAILURES: '3', RETRIES: kind.startsWith('a Trailers') ? '0' : '2', RETRY_ON_STATUS: 'grpc-unavailable' });
    const codes: number[] = [];
    for (let i = 0; i < 10; i++) codes.push((await unary(c, String(i))).err?.code ?? grpc.status.OK);
    // Round robin: a, b, a, b, a (the third failure in a row ejects a), then b only.
    assert.deepEqual(codes, [14, 0, 14, 0, 14, 0, 0, 0, 0, 0]);
    assert.deepEqual([a.calls, b.calls], [3, 7]);
    assert.equal(lb.pool.backends.find((x) => x.id === 'a')!.ejected, true);
  });
}

test('metrics count gRPC statuses by backend, pool, route and code (the backends\' and the balancer\'s own); access lines carry grpcStatus', async (t) => {
  const a = await startGrpcBackend(t, 'a', (call, cb) => {
    if (call.request.text === 'missing') cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
    else cb(null, { text: `a:${call.request.text}` });
  });
  const { lb, client: c, logs } = await balancer(t, [a.entry]);
  assert.equal((await unary(c, 'one')).err, null);
  assert.equal((await unary(c, 'two')).err, null);
  assert.equal((await unary(c, 'missing')).err?.code, grpc.status.NOT_FOUND);
  // No backend left: the balancer answers UNAVAILABLE itself.
  lb.pool.setHealth(lb.pool.backends[0]!, false);
  assert.equal((await unary(c, 'none')).err?.code, grpc.status.UNAVAILABLE);
  await until(() => logs.filter((l) => l.msg === 'request').length === 4, 'four access lines');
  assert.deepEqual(logs.filter((l) => l.msg === 'request').map((l) => [l.status, l.grpcStatus]), [[200, 0], [200, 0], [200, 5], [200, 14]]);
  // What /metrics serves (the admin listener is not started for a balancer whose health is set by hand).
  const text = await lb.metrics.text();
  assert.match(text, /# TYPE lb_grpc_responses_total counter/);
  assert.equal(metric(text, 'lb_grpc_responses_total', { backend: 'a', code: '0', pool: 'default' }), 2);
  assert.equal(metric(text, 'lb_grpc_responses_total', { backend: 'a', code: '5', pool: 'default' }), 1);
  assert.equal(metric(text, 'lb_grpc_responses_total', { backend: 'none', code: '14', pool: 'default' }), 1);
  assert.equal(metric(text, 'lb_grpc_responses_total', { code: '14', backend: 'a' }), undefined, 'only codes seen are exposed');
});

test('router answers to gRPC calls are gRPC: no route is UNIMPLEMENTED, a DirectResponse 503 UNAVAILABLE with its text and headers, a redirect UNKNOWN', async (t) => {
  const a = await startGrpcBackend(t, 'a');
  const lb = await startInProcess({ ...TLS, ENGINE: 'node', HEALTH_CHECK_TIMEOUT: '10s' }, t, () => ({
    pools: { echo: { proto: 'h2c', backends: [a.entry.split('|')[0]] } },
    routes: [
      { name: 'other', matches: [{ path: { type: 'PathPrefix', value: '/other.Service' } }], backendRefs: [{ name: 'echo' }] },
      { name: 'maintenance', matches: [{ path: { type: 'Exact', value: '/lbtest.Echo/Stream' } }], filters: [{ type: 'DirectResponse', directResponse: { statusCode: 503, body: 'down for maintenance\n', headers: [{ name: 'Retry-After', value: '120' }] } }] },
      { name: 'moved', matches: [{ path: { type: 'PathPrefix', value: '/old.Service' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'new.example' } }] },
    ],
  }));
  const c = client(t, lb.port);
  const { err } = await unary(c, 'x');
  assert.equal(err?.code, grpc.status.UNIMPLEMENTED);
  assert.match(err!.details, /no route matches/);
  const stream = c.Stream({ text: 's' });
  stream.on('data', () => undefined);
  const streamErr = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
  assert.equal(streamErr.code, grpc.status.UNAVAILABLE);
  assert.equal(streamErr.details, 'down for maintenance');
  assert.deepEqual(streamErr.metadata.get('retry-after'), ['120'], 'the DirectResponse\'s headers, as metadata');
  const { head, status } = await rawCall(lb.port, { ':path': '/old.Service/Call' });
  assert.deepEqual([head[':status'], status['grpc-status'], status['grpc-message']], [200, '2', '302 Found']);
  assert.equal(a.calls, 0);
  await lb.waitForLog((l) => l.msg === 'request' && l.error === 'LB_ERR_NO_ROUTE' && l.grpcStatus === 12 && l.status === 200);
  await lb.waitForLog((l) => l.msg === 'request' && l.route === 'maintenance' && l.grpcStatus === 14);
});

test('a gRPC call the listener refuses (more than MAX_HEADERS headers: 431) gets a gRPC answer, RESOURCE_EXHAUSTED', async (t) => {
  const a = await startGrpcBackend(t, 'a');
  const { client: c } = await balancer(t, [a.entry], { MAX_HEADERS: '20' });
  const metadata = new grpc.Metadata();
  for (let i = 0; i < 30; i++) metadata.set(`x-m${i}`, 'v');
  const { err } = await unary(c, 'x', {}, metadata);
  assert.equal(err?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(err!.details, /more than 20 headers/);
  assert.equal(a.calls, 0);
  assert.equal((await unary(c, 'ok')).res?.text, 'a:ok', 'the channel is still good');
});
