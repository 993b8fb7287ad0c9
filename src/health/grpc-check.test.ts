import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Pool } from '../pool/index.js';
import { grpcCheck } from './grpc-check.js';
import { decodeHealthCheckResponse, encodeHealthCheckRequest, grpcStatusReason, grpcTimeout, servingVerdict } from './grpc-message.js';
import { HealthMonitor } from './monitor.js';

/** A HealthCheckResponse with `status`, in its length-prefixed gRPC message. */
function response(status: number, extra: readonly number[] = []): Buffer {
  const proto = Buffer.from([...extra, 0x08, status]);
  return Buffer.concat([Buffer.from([0, 0, 0, 0, proto.length]), proto]);
}

test('HealthCheckRequest: tag 0x0a, a varint length and the name, in a 5-byte length-prefixed message; the empty name is the empty message', () => {
  assert.deepEqual([...encodeHealthCheckRequest('')], [0, 0, 0, 0, 0]);
  assert.deepEqual([...encodeHealthCheckRequest('ab')], [0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]);
  // 200 bytes take a two-byte varint: 200 = 0b1_1001000 → 0xc8 0x01.
  const long = encodeHealthCheckRequest('x'.repeat(200));
  assert.deepEqual([...long.subarray(0, 8)], [0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01]);
  assert.equal(long.length, 5 + 203);
  // UTF-8 bytes are counted, not characters.
  assert.deepEqual([...encodeHealthCheckRequest('é')], [0, 0, 0, 0, 4, 0x0a, 2, 0xc3, 0xa9]);
});

test('HealthCheckResponse: the status field read, unknown fields skipped, a missing field is UNKNOWN, broken messages said so', () => {
  assert.deepEqual(decodeHealthCheckResponse(response(1)), { status: 1 });
  assert.deepEqual(decodeHealthCheckResponse(response(2)), { status: 2 });
  // Field 2 varint, field 3 length-delimited, field 4 fixed64, field 5 fixed32, then the status.
  const extra = [0x10, 0x96, 0x01, 0x1a, 2, 0x68, 0x69, 0x21, 1, 2, 3, 4, 5, 6, 7, 8, 0x2d, 1, 2, 3, 4];
  assert.deepEqual(decodeHealthCheckResponse(response(1, extra)), { status: 1 });
  assert.deepEqual(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 0])), { status: 0 }, 'proto3 leaves the default out');
  assert.deepEqual(decodeHealthCheckResponse(Buffer.alloc(0)), { invalid: 'grpc response without a message' });
  assert.deepEqual(decodeHealthCheckResponse(Buffer.from([0, 0, 0])), { invalid: 'grpc response message truncated' });
  assert.deepEqual(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 2, 0x08])), { invalid: 'grpc response message truncated' });
  assert.deepEqual(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 1, 0x08])), { invalid: 'invalid HealthCheckResponse (truncated field)' });
  assert.deepEqual(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 2, 0x1a, 5])), { invalid: 'invalid HealthCheckResponse (truncated field)' });
  assert.deepEqual(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 1, 0x0b])), { invalid: 'invalid HealthCheckResponse (wire type 3)' });
  assert.match((decodeHealthCheckResponse(Buffer.from([1, 0, 0, 0, 2, 0x08, 1])) as { invalid: string }).invalid, /compressed/);
});

test('verdicts: SERVING passes, the other serving statuses and grpc-status codes fail by name; grpc-timeout in the header\'s units', () => {
  assert.deepEqual(servingVerdict(1), { ok: true });
  assert.deepEqual([0, 2, 3, 9].map((s) => servingVerdict(s).reason), ['grpc UNKNOWN', 'grpc NOT_SERVING', 'grpc SERVICE_UNKNOWN', 'grpc serving status 9']);
  assert.equal(grpcStatusReason(12, 'The server does not implement the method /grpc.health.v1.Health/Check'), 'grpc-status 12 (UNIMPLEMENTED): The server does not implement the method /grpc.health.v1.Health/Check');
  assert.equal(grpcStatusReason(14, 'no%20route%3A%20%E2%9C%93'), 'grpc-status 14 (UNAVAILABLE): no route: ✓', 'grpc-message is percent-encoded');
  assert.equal(grpcStatusReason(5, undefined), 'grpc-status 5 (NOT_FOUND)');
  assert.equal(grpcStatusReason(99, '%zz'), 'grpc-status 99 (unknown code): %zz');
  assert.deepEqual([grpcTimeout(1000), grpcTimeout(0.5), grpcTimeout(99_999_999), grpcTimeout(100_000_000)], ['1000m', '1m', '99999999m', '100000S']);
});

/** An h2c server that answers every stream with `answer`, and keeps each request's headers and body. */
async function h2c(t: { after(fn: () => unknown): void }, answer: (stream: ServerHttp2Stream) => void): Promise<{ origin: string; seen: { headers: IncomingHttpHeaders; body: Buffer }[] }> {
  const seen: { headers: IncomingHttpHeaders; body: Buffer }[] = [];
  const server = createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      seen.push({ headers, body: Buffer.concat(chunks) });
      answer(stream);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const GRPC = { ':status': 200, 'content-type': 'application/grpc' };

test('the check over h2c: the request a gRPC server expects, then the verdict from trailers, a Trailers-Only answer or a non-gRPC one', async (t) => {
  const answers: ((stream: ServerHttp2Stream) => void)[] = [
    (s) => { s.respond(GRPC, { waitForTrailers: true }); s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' })); s.end(response(1)); },
    (s) => { s.respond(GRPC, { waitForTrailers: true }); s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' })); s.end(response(2)); },
    (s) => { s.respond({ ...GRPC, 'grpc-status': '12', 'grpc-message': 'unknown%20service%20grpc.health.v1.Health' }, { endStream: true }); },
    (s) => { s.respond({ ':status': 404, 'content-type': 'text/plain' }); s.end('nope'); },
    (s) => { s.respond({ ':status': 200, 'content-type': 'text/html' }); s.end('<html>'); },
    (s) => { s.respond(GRPC); s.end(response(1)); },
    (s) => { s.respond(GRPC, { waitForTrailers: true }); s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' })); s.end(); },
  ];
  let n = 0;
  const { origin, seen } = await h2c(t, (stream) => answers[n++]!(stream));
  const check = grpcCheck(undefined, 'lbtest.Echo');
  const results = [];
  for (let i = 0; i < answers.length; i++) results.push(await check(`${origin}/ignored/prefix`, 1000));
  assert.deepEqual(results, [
    { ok: true },
    { ok: false, reason: 'grpc NOT_SERVING' },
    { ok: false, reason: 'grpc-status 12 (UNIMPLEMENTED): unknown service grpc.health.v1.Health' },
    { ok: false, reason: 'status 404' },
    { ok: false, reason: 'not a gRPC response (content-type "text/html")' },
    { ok: false, reason: 'grpc response without trailers (no grpc-status)' },
    { ok: false, reason: 'grpc response without a message' },
  ]);
  const { headers, body } = seen[0]!;
  assert.deepEqual([headers[':method'], headers[':path'], headers['content-type'], headers.te, headers['grpc-timeout']],
    ['POST', '/grpc.health.v1.Health/Check', 'application/grpc', 'trailers', '1000m']);
  assert.deepEqual(body, encodeHealthCheckRequest('lbtest.Echo'));
});

test('the check: a silent server times out, a refused connection is named as the other checks name it', async (t) => {
  const { origin } = await h2c(t, () => undefined);
  assert.deepEqual(await grpcCheck(undefined, '')(origin, 100), { ok: false, reason: 'timeout after 100ms' });
  assert.deepEqual(await grpcCheck(undefined, '')('http://127.0.0.1:1', 1000), { ok: false, reason: 'connection refused' });
});

test('the monitor with type grpc: h2c backends get the Check RPC (not a GET of the path); an HTTP/1.1 one fails saying why', async (t) => {
  const { origin, seen } = await h2c(t, (s) => { s.respond(GRPC, { waitForTrailers: true }); s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' })); s.end(response(1)); });
  const pool = new Pool([`${origin}/a|proto=h2c|id=h2`, `${origin}/b|id=h1`]);
  const monitor = new HealthMonitor(pool, { type: 'grpc', service: 'svc', path: '/health', interval: 60_000, timeout: 1000, rise: 1, fall: 1 }, pino({ level: 'silent' }));
  t.after(() => monitor.stop());
  await monitor.runRound();
  assert.deepEqual(pool.backends.map((b) => [b.id, b.healthy, b.healthReason]), [['h2', true, undefined], ['h1', false, 'grpc health check of a backend not spoken to over HTTP/2 (proto h2c or h2 needed)']]);
  assert.deepEqual(seen.map((s) => s.headers[':path']), ['/grpc.health.v1.Health/Check']);
  // A reload to another service asks about it from the next check on.
  monitor.configure({ type: 'grpc', service: 'other', path: undefined, interval: 60_000, timeout: 1000, rise: 1, fall: 1 });
  await monitor.runRound();
  assert.deepEqual(seen[1]!.body, encodeHealthCheckRequest('other'));
});
