// @engine-independent: HTTP/2 backends and a TLS listener mean the node engine
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureServer, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { describe as describeBackend } from '../src/admin/admin-server.js';
import { createCa } from './helpers/certs.js';
import { get } from './helpers/http.js';
import { startH2Backend } from './helpers/h2-backend.js';
import { firstAvailable, startBalancer, until } from './helpers/in-process.js';
import { refusing } from './conformance/backends.js';

const ca = createCa();
const cert = ca.issue('lb-grpc-streaming', ['localhost', '127.0.0.1']);
const MiB = 1024 * 1024;

const dir = mkdtempSync(join(tmpdir(), 'lb-grpc-streaming-'));
writeFileSync(join(dir, 'streams.proto'), `syntax = "proto3";
package lbstream;
service Streams {
  rpc Unary (Msg) returns (Msg);
  rpc ServerStream (Msg) returns (stream Msg);
  rpc ClientStream (stream Msg) returns (Msg);
  rpc Bidi (stream Msg) returns (stream Msg);
  rpc Blob (Bytes) returns (Bytes);
}
message Msg { string text = 1; int32 n = 2; }
message Bytes { bytes data = 1; }
`);
interface Msg { text: string; n: number }
interface Bytes { data: Buffer }
type Callback<T> = (err: grpc.ServiceError | null, res?: T) => void;
type StreamsClient = grpc.Client & {
  Unary(msg: Partial<Msg>, metadata: grpc.Metadata, options: grpc.CallOptions, cb: Callback<Msg>): grpc.ClientUnaryCall;
  ServerStream(msg: Partial<Msg>, metadata?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<Msg>;
  ClientStream(metadata: grpc.Metadata, options: grpc.CallOptions, cb: Callback<Msg>): grpc.ClientWritableStream<Partial<Msg>>;
  Bidi(metadata?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<Partial<Msg>, Msg>;
  Blob(msg: Bytes, metadata: grpc.Metadata, options: grpc.CallOptions, cb: Callback<Bytes>): grpc.ClientUnaryCall;
};
const Streams = (grpc.loadPackageDefinition(loadSync(join(dir, 'streams.proto'), { longs: Number, defaults: true })).lbstream as grpc.GrpcObject).Streams as grpc.ServiceClientConstructor;

/** Large messages both ways: grpc-js's 4 MiB default receive limit raised on both sides. */
const BIG = { 'grpc.max_receive_message_length': 16 * MiB, 'grpc.max_send_message_length': 16 * MiB };

type Context = { after(fn: () => unknown): void };

/** What a test gRPC backend saw: its calls, their metadata and peers (one address per connection), and calls cancelled. */
interface GrpcBackend {
  readonly name: string;
  readonly server: grpc.Server;
  entry: string;
  calls: number;
  readonly metadata: grpc.Metadata[];
  readonly peers: string[];
  readonly cancelled: string[];
  /** Called with each ServerStream call before it answers; a test may hold it. */
  onServerStream?: (call: grpc.ServerWritableStream<Msg, Msg>) => boolean;
  onUnary?: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => boolean;
}

/** A gRPC server on h2c (or TLS, `tls: true`) that answers with its name, and notes what it saw. */
async function startGrpcBackend(t: Context, name: string, options: grpc.ServerOptions = {}, tls = false): Promise<GrpcBackend> {
  const server = new grpc.Server({ ...BIG, ...options });
  const state: GrpcBackend = { name, server, entry: '', calls: 0, metadata: [], peers: [], cancelled: [] };
  const seen = (call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>, what: string): void => {
    state.calls++;
    state.metadata.push(call.metadata);
    state.peers.push(call.getPeer());
    (call as import('node:events').EventEmitter).on('cancelled', () => state.cancelled.push(what));
  };
  server.addService(Streams.service, {
    Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      seen(call, 'unary');
      if (state.onUnary?.(call, cb) === true) return;
      const initial = new grpc.Metadata();
      initial.set('x-initial', `${name}-hello`);
      call.sendMetadata(initial);
      const trailing = new grpc.Metadata();
      trailing.set('x-trailing', `${name}-done`);
      trailing.set('x-echo-bin', call.metadata.get('x-client-bin')[0] ?? Buffer.alloc(0));
      cb(null, { text: `${name}:${call.request.text}`, n: call.request.n }, trailing);
    },
    ServerStream: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      seen(call, 'server-stream');
      if (state.onServerStream?.(call) === true) return;
      for (let i = 0; i < call.request.n; i++) call.write({ text: `${name}:${call.request.text}`, n: i });
      const trailing = new grpc.Metadata();
      trailing.set('x-trailing', `${name}-streamed`);
      call.end(trailing);
    },
    ClientStream: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      seen(call, 'client-stream');
      let sum = 0;
      let count = 0;
      call.on('data', (m: Msg) => { sum += m.n; count++; });
      call.on('end', () => cb(null, { text: `${name}:${count}`, n: sum }));
    },
    Bidi: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      seen(call, 'bidi');
      const initial = new grpc.Metadata();
      initial.set('x-initial', `${name}-bidi`);
      call.sendMetadata(initial);
      call.on('data', (m: Msg) => call.write({ text: `${name}:${m.text}`, n: m.n * 2 }));
      call.on('end', () => {
        const trailing = new grpc.Metadata();
        trailing.set('x-trailing', `${name}-bidi-done`);
        call.end(trailing);
      });
    },
    Blob: (call: grpc.ServerUnaryCall<Bytes, Bytes>, cb: grpc.sendUnaryData<Bytes>) => {
      seen(call, 'blob');
      // The request's digest ahead of an 8 MiB answer of its own.
      const digest = createHash('sha256').update(call.request.data).digest();
      cb(null, { data: Buffer.concat([digest, pattern(8 * MiB, 7)]) });
    },
  });
  const credentials = tls ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(cert.cert), private_key: Buffer.from(cert.key) }]) : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))));
  t.after(() => server.forceShutdown());
  state.entry = tls ? `https://127.0.0.1:${port}|id=${name}` : `http://127.0.0.1:${port}|proto=h2c|id=${name}`;
  return state;
}

/** `length` bytes of a pattern that differs with `seed`. */
function pattern(length: number, seed: number): Buffer {
  const buf = Buffer.alloc(length);
  for (let i = 0; i + 4 <= length; i += 4) buf.writeUInt32BE((i * 2654435761 + seed) >>> 0, i);
  return buf;
}

/** The balancer on TLS (it offers h2 by ALPN), and one gRPC client channel to it. */
async function balancer(t: Context, backends: string[], env: Record<string, string> = {}, strategy?: Parameters<typeof startBalancer>[4]) {
  const started = await startBalancer(t, 'node', backends, { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile, BACKEND_CA_FILE: ca.certFile, ...env }, strategy);
  // Named by its DNS name for TLS: Node 26 refuses an IP address as the TLS server name, which grpc-js would send.
  const client = new Streams(`127.0.0.1:${started.port}`, grpc.credentials.createSsl(Buffer.from(ca.cert)), {
    'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost', ...BIG,
  }) as unknown as StreamsClient;
  t.after(() => client.close());
  return { ...started, client };
}

interface UnaryResult { err: grpc.ServiceError | null; res?: Msg; initial?: grpc.Metadata; trailers?: grpc.Metadata }

function unary(client: StreamsClient, text: string, metadata = new grpc.Metadata(), options: grpc.CallOptions = {}): Promise<UnaryResult> {
  return new Promise((resolve) => {
    const out: UnaryResult = { err: null };
    const call = client.Unary({ text, n: 1 }, metadata, options, (err, res) => {
      out.err = err;
      out.res = res;
      setImmediate(() => resolve(out));
    });
    call.on('metadata', (m: grpc.Metadata) => { out.initial = m; });
    call.on('status', (status: grpc.StatusObject) => { out.trailers = status.metadata; });
  });
}

/** Every message of a server-streaming call, and how it ended. */
function collect(call: grpc.ClientReadableStream<Msg> | grpc.ClientDuplexStream<Partial<Msg>, Msg>): Promise<{ messages: Msg[]; status: grpc.StatusObject; initial?: grpc.Metadata }> {
  return new Promise((resolve) => {
    const messages: Msg[] = [];
    let initial: grpc.Metadata | undefined;
    call.on('metadata', (m: grpc.Metadata) => { initial = m; });
    call.on('data', (m: Msg) => messages.push(m));
    call.on('error', () => undefined);
    call.on('status', (status: grpc.StatusObject) => resolve({ messages, status, initial }));
  });
}

test('unary: the reply, request metadata to the backend, initial and trailing metadata (text and binary) back', async (t) => {
  const a = await startGrpcBackend(t, 'a');
  const { client } = await balancer(t, [a.entry]);
  const metadata = new grpc.Metadata();
  metadata.set('x-client', 'c1');
  metadata.set('x-client-bin', Buffer.from([0, 1, 2, 255]));
  const { err, res, initial, trailers } = await unary(client, 'hi', metadata);
  assert.equal(err, null);
  assert.equal(res!.text, 'a:hi');
  assert.deepEqual(initial!.get('x-initial'), ['a-hello']);
  assert.deepEqual(trailers!.get('x-trailing'), ['a-done']);
  assert.deepEqual(trailers!.get('x-echo-bin'), [Buffer.from([0, 1, 2, 255])], 'binary metadata both ways');
  assert.deepEqual(a.metadata[0]!.get('x-client'), ['c1']);
});

test('server streaming: 200 messages in order, then OK with the trailing metadata', async (t) => {
  const a = await startGrpcBackend(t, 'a');
  const { client } = await balancer(t, [a.entry]);
  const { messages, status } = await collect(client.ServerStream({ text: 's', n: 200 }));
  assert.equal(status.code, grpc.status.OK);
  assert.deepEqual(messages.map((m) => m.n), Array.from({ length: 200 }, (_, i) => i));
  assert.deepEqual(status.metadata.get('x-trailing'), ['a-streamed']);
});

test('client streaming: 500 messages reach the backend, one answer', async (t) => {
  const a = await startGrpcBackend(t, 'a');
  const { client } = await balancer(t, [a.entry]);
  const res = await new Promise<Msg>((resolve, reject) => {
    const call = client.ClientStream(new grpc.Metadata(), {}, (err, r) => (err ? reject(err) : resolve(r!)));
    for (let i = 1; i <= 500; i++) call.write({ text: 'x', n: i });
    call.end();
  });
  assert.deepEqual([res.text, res.n], ['a:500', 500 * 501 / 2]);
});

test('bidirectional streaming: 100 rounds of ping-pong on one call, each answer before the next message, with metadata both ends', async (t) => {
  const a = await startGrpcBackend(t, 'a');
  const { client } = await balancer(t, [a.entry]);
  const call = client.Bidi();
  const done = collect(call);
  const replies: Msg[] = [];
  for (let i = 0; i < 100; i++) {
    const reply = once(call, 'data') as Promise<[Msg]>;
    call.write({ text: `m${i}`, n: i });
    replies.push((await reply)[0]);
  }
  call.end();
  const { status, initial } = await done;
  assert.equal(status.code, grpc.status.OK);
  assert.deepEqual(replies.map((r) => r.n), Array.from({ length: 100 }, (_, i) => i * 2));
  assert.equal(replies[99]!.text, 'a:m99');
  assert.deepEqual(initial!.get('x-initial'), ['a-bidi']);
  assert.deepEqual(status.metadata.get('x-trailing'), ['a-bidi-done']);
});

test('large messages: 8 MiB up and 8 MiB down, byte for byte', async (t) => {
  const a = await startGrpcBackend(t, 'a');
  const { client } = await balancer(t, [a.entry]);
  const up = pattern(8 * MiB, 3);
  const res = await new Promise<Bytes>((resolve, reject) => client.Blob({ data: up }, new grpc.Metadata(), {}, (err, r) => (err ? reject(err) : resolve(r!))));
  assert.deepEqual(res.data.subarray(0, 32), createHash('sha256').update(up).digest(), 'the backend got the 8 MiB request whole');
  assert.equal(res.data.length, 32 + 8 * MiB);
  assert.ok(res.data.subarray(32).equals(pattern(8 * MiB, 7)), 'the client got the 8 MiB answer whole');
});

test('a client deadline: DEADLINE_EXCEEDED, and the backend\'s call is cancelled', async (t) => {
  const a = await startGrpcBackend(t, 'a');
  a.onUnary = () => true; // never answers
  const { client, lb } = await balancer(t, [a.entry], { PROXY_TIMEOUT: '1h' });
  const { err } = await unary(client, 'late', new grpc.Metadata(), { deadline: Date.now() + 300 });
  assert.equal(err?.code, grpc.status.DEADLINE_EXCEEDED);
  await until(() => a.cancelled.includes('unary'), 'the backend saw the call cancelled');
  await until(() => lb.pool.backends[0]!.inFlight === 0, 'nothing left in flight');
});

test('cancellation from the client reaches the backend: the server\'s call sees it cancelled', async (t) => {
  const a = await startGrpcBackend(t, 'a');
  a.onServerStream = (call) => { call.write({ text: 'first', n: 0 }); return true; };
  const { client, lb } = await balancer(t, [a.entry], { PROXY_TIMEOUT: '1h' });
  const call = client.ServerStream({ text: 'c', n: 1 });
  const ended = collect(call);
  await once(call, 'data');
  call.cancel();
  assert.equal((await ended).status.code, grpc.status.CANCELLED);
  await until(() => a.cancelled.includes('server-stream'), 'the backend saw the call cancelled');
  await until(() => lb.pool.backends[0]!.inFlight === 0, 'nothing left in flight');
});

test('a backend gone mid-stream (forceShutdown): the client gets UNAVAILABLE, not INTERNAL', async (t) => {
  const a = await startGrpcBackend(t, 'a');
  a.onServerStream = (call) => { call.write({ text: 'first', n: 0 }); return true; };
  const { client, lb } = await balancer(t, [a.entry], { PROXY_TIMEOUT: '1h' });
  const call = client.ServerStream({ text: 'k', n: 1 });
  const ended = collect(call);
  await once(call, 'data');
  a.server.forceShutdown();
  const { status, messages } = await ended;
  assert.equal(messages.length, 1);
  assert.equal(status.code, grpc.status.UNAVAILABLE, `${status.code} ${status.details}`);
  await until(() => lb.pool.backends[0]!.inFlight === 0, 'nothing left in flight');
});

test('a backend that is down: the call is retried on another and succeeds (UNAVAILABLE never reaches the client)', async (t) => {
  const down = `${await refusing()}|proto=h2c|id=down`;
  const b = await startGrpcBackend(t, 'b');
  const { client } = await balancer(t, [down, b.entry], { RETRIES: '1' });
  const results = [];
  for (let i = 0; i < 6; i++) results.push(await unary(client, `r${i}`));
  assert.deepEqual(results.map((r) => r.err?.code ?? 0), [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(results.map((r) => r.res!.text), [0, 1, 2, 3, 4, 5].map((i) => `b:r${i}`));
  assert.equal(b.calls, 6);
});

test('one client connection, three h2c backends, 3,000 calls: round robin spreads the streams within 10% of even', async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((n) => startGrpcBackend(t, n)));
  const { client } = await balancer(t, backends.map((b) => b.entry));
  let failed = 0;
  for (let batch = 0; batch < 30; batch++) {
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => unary(client, `${batch}-${i}`)));
    failed += results.filter((r) => r.err !== null).length;
  }
  assert.equal(failed, 0);
  const counts = backends.map((b) => b.calls);
  t.diagnostic(`calls per backend: ${counts.join(', ')}`);
  assert.equal(counts.reduce((x, y) => x + y, 0), 3000);
  for (const n of counts) assert.ok(n >= 900 && n <= 1100, `within 10% of 1,000: ${counts.join(', ')}`);
});

test('least-connections sees each stream in flight: while one call is held on a backend, the next calls on the same client connection go to the other', async (t) => {
  const backends = await Promise.all(['a', 'b'].map((n) => startGrpcBackend(t, n)));
  let release: (() => void) | undefined;
  for (const b of backends) {
    b.onUnary = (call, cb) => {
      if (release !== undefined) return false;
      release = () => cb(null, { text: `${b.name}:${call.request.text}`, n: 0 });
      return true;
    };
  }
  const { client } = await balancer(t, backends.map((b) => b.entry), { STRATEGY: 'least-connections' });
  const held = unary(client, 'held');
  await until(() => release !== undefined, 'the first call is held on a backend');
  const holder = backends.find((b) => b.calls === 1)!;
  const other = backends.find((b) => b !== holder)!;
  for (let i = 0; i < 3; i++) assert.equal((await unary(client, `n${i}`)).res!.text, `${other.name}:n${i}`);
  release!();
  assert.equal((await held).res!.text, `${holder.name}:held`);
  assert.deepEqual([holder.calls, other.calls], [1, 3]);
});

test('a backend allowing 2 streams a connection: 6 concurrent slow calls open at least 3 sessions to it, and all succeed', async (t) => {
  const a = await startGrpcBackend(t, 'a', { 'grpc.max_concurrent_streams': 2 });
  const held: (() => void)[] = [];
  a.onUnary = (call, cb) => {
    held.push(() => cb(null, { text: `a:${call.request.text}`, n: 0 }));
    // The six are held until all have arrived: only possible on three connections at once.
    if (held.length === 6) for (const release of held) release();
    return true;
  };
  const { client } = await balancer(t, [a.entry]);
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => unary(client, `s${i}`)));
  assert.deepEqual(results.map((r) => r.err?.code ?? 0), [0, 0, 0, 0, 0, 0]);
  const connections = new Set(a.peers).size;
  assert.ok(connections >= 3, `${connections} connections`);
});

test('GOAWAY with streams in flight: those at or below its last stream id finish, the one above is retried on another backend (a POST)', async (t) => {
  const held: ServerHttp2Stream[] = [];
  const going = await startH2Backend(t, 'g', (stream) => {
    stream.resume();
    held.push(stream);
    if (held.length < 3) return;
    // Three streams in flight: the backend will finish the first two and never process the third.
    stream.session!.goaway(0, held[1]!.id!);
    for (const s of held.slice(0, 2)) {
      s.respond({ ':status': 200 });
      s.end('g');
    }
  });
  const ok = await startH2Backend(t, 'ok');
  const { url, lb } = await startBalancer(t, 'node', [going.entry, ok.entry], { RETRIES: '1' }, firstAvailable);
  const results = await Promise.all([0, 1, 2].map(async (i) => {
    // One after another onto the session, so that the backend's stream order is the requests' order.
    await until(() => held.length >= i, `stream ${i} reached the backend`);
    // No body: one taken from the client is not kept for a replay.
    return get(url, { method: 'POST' });
  }));
  assert.deepEqual(results.map((r) => [r.status, r.body]), [[200, 'g'], [200, 'g'], [200, 'ok']]);
  await until(() => lb.pool.backends.every((b) => b.inFlight === 0), 'nothing in flight');
});

/** An https:// backend made with node:http2 that also speaks HTTP/1.1, and says which protocol each request came by. */
async function dualBackend(t: Context): Promise<{ url: string; connections: () => number; alpn: string[]; stop(): Promise<void> }> {
  const server = createSecureServer({ cert: cert.cert, key: cert.key, allowHTTP1: true });
  let connections = 0;
  const alpn: string[] = [];
  const sockets: import('node:tls').TLSSocket[] = [];
  server.on('secureConnection', (socket: import('node:tls').TLSSocket) => { connections++; alpn.push(String(socket.alpnProtocol)); sockets.push(socket); });
  server.on('request', (req, res) => {
    req.resume();
    res.end(`dual ${req.httpVersion}`);
  });
  // HTTP/1.1 upgrades (WebSocket): switched, then the socket echoes.
  server.on('upgrade', (_req: unknown, socket: import('node:net').Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= new Promise((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  }));
  t.after(stop);
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}|id=dual`, connections: () => connections, alpn, stop };
}

test('proto auto, https:// backend that offers h2: ALPN chooses it, requests go over HTTP/2 on the connection it was learned on; requests that came meanwhile waited', async (t) => {
  const backend = await dualBackend(t);
  const { url, lb } = await startBalancer(t, 'node', [backend.url], { BACKEND_CA_FILE: ca.certFile });
  const first = await Promise.all(Array.from({ length: 5 }, () => get(url)));
  assert.deepEqual(first.map((r) => r.body), Array(5).fill('dual 2.0'));
  const later = await get(url, { method: 'POST', body: 'x' });
  assert.equal(later.body, 'dual 2.0');
  assert.equal(backend.connections(), 1, 'one TLS connection: the one ALPN chose h2 on');
  assert.deepEqual(backend.alpn, ['h2']);
  const b = lb.pool.backends[0]!;
  assert.deepEqual([b.proto, b.negotiated], ['auto', 'h2']);
  assert.equal((describeBackend(b) as { negotiated?: string }).negotiated, 'h2', 'the admin API shows what was chosen');
});

test('proto auto, ALPN chose h2: a WebSocket upgrade still goes over HTTP/1.1 (no extended CONNECT)', async (t) => {
  const backend = await dualBackend(t);
  const { port, lb } = await startBalancer(t, 'node', [backend.url], { BACKEND_CA_FILE: ca.certFile });
  assert.equal((await get(`http://127.0.0.1:${port}`)).body, 'dual 2.0');
  assert.equal(lb.pool.backends[0]!.negotiated, 'h2');
  const { request } = await import('node:http');
  const req = request({ host: '127.0.0.1', port, path: '/ws', agent: false, headers: { connection: 'Upgrade', upgrade: 'websocket' } });
  req.end();
  const { res, socket } = await new Promise<{ res: import('node:http').IncomingMessage; socket?: import('node:net').Socket }>((resolve) => {
    req.on('upgrade', (r, s) => resolve({ res: r, socket: s }));
    req.on('response', (r) => { r.resume(); resolve({ res: r }); });
  });
  assert.equal(res.statusCode, 101);
  t.after(() => socket!.destroy());
  socket!.write('ping');
  const [echo] = await once(socket!, 'data') as [Buffer];
  assert.equal(echo.toString(), 'ping');
});

test('proto auto: once an HTTP/2 connection to the backend cannot be made, what it speaks is learned again', async (t) => {
  const backend = await dualBackend(t);
  const { url, lb } = await startBalancer(t, 'node', [backend.url], { BACKEND_CA_FILE: ca.certFile });
  assert.equal((await get(url)).body, 'dual 2.0');
  const b = lb.pool.backends[0]!;
  assert.equal(b.negotiated, 'h2');
  await backend.stop();
  await until(() => lb.connections(b).open === 0, 'the session to the stopped backend closed');
  assert.equal((await get(url)).status, 502, 'a new session cannot connect');
  assert.equal(b.negotiated, undefined, 'the next request asks ALPN again');
});

test('proto auto, https:// backend that speaks HTTP/1.1 only: requests go over HTTP/1.1', async (t) => {
  const server = createHttpsServer({ cert: cert.cert, key: cert.key }, (req, res) => { req.resume(); res.end(`h1 ${req.httpVersion}`); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => { server.closeAllConnections(); return new Promise((resolve) => server.close(resolve)); });
  const entry = `https://127.0.0.1:${(server.address() as AddressInfo).port}|id=h1`;
  const { url, lb } = await startBalancer(t, 'node', [entry], { BACKEND_CA_FILE: ca.certFile });
  const results = await Promise.all(Array.from({ length: 3 }, () => get(url)));
  assert.deepEqual(results.map((r) => [r.status, r.body]), Array(3).fill([200, 'h1 1.1']));
  assert.deepEqual([lb.pool.backends[0]!.proto, lb.pool.backends[0]!.negotiated], ['auto', 'http1']);
  assert.equal((describeBackend(lb.pool.backends[0]!) as { negotiated?: string }).negotiated, 'http1');
});

test('proto auto: a backend that cannot be reached fails over like a connect failure; nothing is learned, so its next request asks again', async (t) => {
  const down = `${await refusing()}|id=down`.replace('http://', 'https://');
  const b = await startH2Backend(t, 'b');
  const { url, lb } = await startBalancer(t, 'node', [down, b.entry], { RETRIES: '1', BACKEND_CA_FILE: ca.certFile }, firstAvailable);
  const res = await get(url, { method: 'POST', body: 'x' });
  assert.deepEqual([res.status, res.body], [200, 'bx'], 'retried on b, as a connection refused is');
  assert.equal(lb.pool.get('down')!.negotiated, undefined, 'nothing learned: the next request asks again');
});

test('gRPC to an https:// gRPC server with proto auto: ALPN chooses h2', async (t) => {
  const a = await startGrpcBackend(t, 'tls', {}, true);
  const { client, lb } = await balancer(t, [a.entry]);
  const { err, res, trailers } = await unary(client, 'over-alpn');
  assert.equal(err, null);
  assert.equal(res!.text, 'tls:over-alpn');
  assert.deepEqual(trailers!.get('x-trailing'), ['tls-done']);
  assert.equal(lb.pool.backends[0]!.negotiated, 'h2');
});

test('curl --http2 through the TLS listener to an h2c backend', async (t) => {
  const backend = await startH2Backend(t, 'h2b');
  const { port } = await startBalancer(t, 'node', [backend.entry], { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile });
  const run = promisify(execFile);
  const { stdout } = await run('curl', ['-s', '-i', '--http2', '--cacert', ca.certFile, '--data', 'payload', `https://localhost:${port}/c`]);
  assert.match(stdout, /^HTTP\/2 200/);
  assert.match(stdout, /x-backend: h2b/);
  assert.match(stdout, /h2bpayload$/);
  assert.equal(backend.streams[0]!.headers[':method'], 'POST');
});
