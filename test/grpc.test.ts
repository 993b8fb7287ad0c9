// @engine-independent: HTTP/2 backends and a TLS listener mean the node engine
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { createCa } from './helpers/certs.js';
import { echo, type EchoClient, type Msg } from './helpers/grpc-echo.js';
import { startBalancer } from './helpers/in-process.js';
import { refusing } from './conformance/backends.js';

const ca = createCa();
const cert = ca.issue('lb-grpc', ['localhost', '127.0.0.1']);


type Context = { after(fn: () => unknown): void };

/** A gRPC server on h2c (`proto=h2c` to the balancer) that answers with its name, and counts its calls. */
async function startGrpcBackend(t: Context, name: string, unary?: grpc.handleUnaryCall<Msg, Msg>): Promise<{ entry: string; calls: number; seen: grpc.Metadata[] }> {
  const state = { entry: '', calls: 0, seen: [] as grpc.Metadata[] };
  const server = new grpc.Server();
  server.addService(echo.service, {
    Unary: unary ?? ((call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      state.calls++;
      state.seen.push(call.metadata);
      call.sendMetadata(new grpc.Metadata());
      const trailing = new grpc.Metadata();
      trailing.set('x-trailing', `${name}-done`);
      cb(null, { text: `${name}:${call.request.text}` }, trailing);
    }),
    Stream: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      state.calls++;
      for (let i = 0; i < 5; i++) call.write({ text: `${name}:${call.request.text}:${i}` });
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  t.after(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
  state.entry = `http://127.0.0.1:${port}|proto=h2c|id=${name}`;
  return state;
}

/** The balancer on TLS (it offers h2 by ALPN), and one gRPC client channel to it. */
async function balancer(t: Context, backends: string[], env: Record<string, string> = {}): Promise<EchoClient> {
  const { port } = await startBalancer(t, 'node', backends, { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile, ...env });
  // Named by its DNS name for TLS: Node 26 refuses an IP address as the TLS server name, which grpc-js would send.
  const client = new echo(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(ca.cert)), { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' }) as unknown as EchoClient;
  t.after(() => client.close());
  return client;
}

function unary(client: EchoClient, text: string, metadata = new grpc.Metadata()): Promise<{ err: grpc.ServiceError | null; res?: Msg; trailers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const call = client.Unary({ text }, metadata, {}, (err, res) => setImmediate(() => resolve({ err, res, trailers })));
    call.on('status', (status: grpc.StatusObject) => { trailers = status.metadata; });
  });
}

test('gRPC unary through the balancer: request metadata reaches the backend, the reply and its trailing metadata come back', async (t) => {
  const a = await startGrpcBackend(t, 'a');
  const client = await balancer(t, [a.entry]);
  const metadata = new grpc.Metadata();
  metadata.set('x-client', 'c1');
  const { err, res, trailers } = await unary(client, 'hi', metadata);
  assert.equal(err, null);
  assert.equal(res!.text, 'a:hi');
  assert.deepEqual(trailers!.get('x-trailing'), ['a-done'], 'trailing metadata relayed as HTTP/2 trailers');
  assert.deepEqual(a.seen[0]!.get('x-client'), ['c1']);
  assert.ok(a.seen[0]!.get('x-forwarded-for').length === 1, 'forwarding headers added');
});

test('gRPC server streaming through the balancer: every message, in order, then OK', async (t) => {
  const a = await startGrpcBackend(t, 'a');
  const client = await balancer(t, [a.entry]);
  const got: string[] = [];
  const call = client.Stream({ text: 's' });
  const status = await new Promise<grpc.StatusObject>((resolve, reject) => {
    call.on('data', (m: Msg) => got.push(m.text));
    call.on('status', resolve);
    call.on('error', (err: grpc.ServiceError) => { if (err.code !== grpc.status.OK) reject(err); });
  });
  assert.equal(status.code, grpc.status.OK);
  assert.deepEqual(got, [0, 1, 2, 3, 4].map((i) => `a:s:${i}`));
});

test('a gRPC error from the backend (a Trailers-Only response) reaches the client with its code and message', async (t) => {
  const a = await startGrpcBackend(t, 'a', (_call, cb) => cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' }));
  const client = await balancer(t, [a.entry]);
  const { err } = await unary(client, 'x');
  assert.equal(err?.code, grpc.status.NOT_FOUND);
  assert.equal(err?.details, 'no such thing');
});

test('a backend that is down: the balancer answers the call UNAVAILABLE with a grpc-message, not a 502 page', async (t) => {
  const client = await balancer(t, [`${await refusing()}|proto=h2c`]);
  const { err } = await unary(client, 'x');
  assert.equal(err?.code, grpc.status.UNAVAILABLE);
  assert.match(err!.details, /connection refused/);
});

test('no answer within PROXY_TIMEOUT: DEADLINE_EXCEEDED from the balancer', async (t) => {
  const a = await startGrpcBackend(t, 'a', () => undefined);
  const client = await balancer(t, [a.entry], { PROXY_TIMEOUT: '300ms' });
  const { err } = await unary(client, 'x');
  assert.equal(err?.code, grpc.status.DEADLINE_EXCEEDED);
});

test('one client connection, three h2c backends: every call is balanced on its own (round robin spreads them evenly)', async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((n) => startGrpcBackend(t, n)));
  const client = await balancer(t, backends.map((b) => b.entry));
  const replies: string[] = [];
  for (let i = 0; i < 9; i++) replies.push((await unary(client, String(i))).res!.text.split(':')[0]!);
  const concurrent = await Promise.all(Array.from({ length: 21 }, (_, i) => unary(client, `c${i}`)));
  for (const r of concurrent) replies.push(r.res!.text.split(':')[0]!);
  assert.deepEqual(backends.map((b) => b.calls), [10, 10, 10]);
  assert.deepEqual(replies.slice(0, 9), ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
});

test('the balancer\'s gRPC error is a Trailers-Only response: status 200 and grpc-status in the one HEADERS frame that ends the stream', async (t) => {
  const { port } = await startBalancer(t, 'node', [`${await refusing()}|proto=h2c`], { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile });
  const { connect, constants } = await import('node:http2');
  const session = connect(`https://127.0.0.1:${port}`, { ca: ca.cert });
  t.after(() => session.close());
  const stream = session.request({ ':method': 'POST', ':path': '/lbtest.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers' });
  stream.end(Buffer.from([0, 0, 0, 0, 0]));
  const [headers, flags] = await new Promise<[Record<string, unknown>, number]>((resolve) => stream.on('response', (h, f) => resolve([h, f])));
  stream.resume();
  assert.deepEqual([headers[':status'], headers['content-type'], headers['grpc-status']], [200, 'application/grpc', '14']);
  assert.match(String(headers['grpc-message']), /connection refused/);
  assert.notEqual(flags & constants.NGHTTP2_FLAG_END_STREAM, 0, 'the HEADERS frame ends the stream');
});

test('gRPC clients in clear (h2c, an insecure channel) on the plain listener: unary and server streaming, spread over the pool', async (t) => {
  const a = await startGrpcBackend(t, 'a');
  const b = await startGrpcBackend(t, 'b');
  const { port } = await startBalancer(t, 'node', [a.entry, b.entry]);
  const client = new echo(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
  t.after(() => client.close());
  const replies = [];
  for (let i = 0; i < 4; i++) {
    const { err, res, trailers } = await unary(client, `m${i}`);
    assert.equal(err, null);
    replies.push(res?.text);
    assert.deepEqual(trailers?.get('x-trailing'), [`${res!.text.split(':')[0]}-done`]);
  }
  assert.deepEqual(replies.sort(), ['a:m0', 'a:m2', 'b:m1', 'b:m3']);
  const streamed: string[] = [];
  for await (const msg of client.Stream({ text: 's' })) streamed.push((msg as Msg).text);
  assert.equal(streamed.length, 5);
});
