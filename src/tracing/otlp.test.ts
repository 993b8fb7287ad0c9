import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { ProtoWriter } from './proto-writer.js';
import { encodeProto } from './otlp-proto.js';
import { encodeJson } from './otlp-json.js';
import { SpanEvent, type SpanData } from './span.js';
import { decodeJson, decodeProto } from '../../test/helpers/otlp-receiver.js';

test('the protobuf writer: varints, fixed64, strings and nested bytes as the wire format has them', () => {
  // The encoding guide's examples: 150 in field 1 is 08 96 01; "testing" in field 2 is 12 07 74 65 73 74 69 6e 67.
  assert.equal(new ProtoWriter(1).uint(1, 150).finish().toString('hex'), '089601');
  assert.equal(new ProtoWriter(1).string(2, 'testing').finish().toString('hex'), '120774657374696e67');
  assert.equal(new ProtoWriter().fixed64(7, 1n).finish().toString('hex'), '390100000000000000');
  // A negative int64 is ten bytes of two's complement.
  assert.equal(new ProtoWriter().tag(3, 0).varint(-1n).finish().toString('hex'), '18ffffffffffffffffff01');
  assert.equal(new ProtoWriter().uint(1, 2 ** 40).finish().toString('hex'), '08808080808020');
  // Defaults are left out; an empty nested message is still written.
  assert.equal(new ProtoWriter().uint(1, 0).string(2, '').finish().length, 0);
  assert.equal(new ProtoWriter().bytes(1, Buffer.alloc(0)).finish().toString('hex'), '0a00');
  // Growing past the first buffer keeps what was written.
  const long = 'x'.repeat(1000);
  assert.equal(new ProtoWriter(4).string(1, long).finish().subarray(3).toString(), long);
});

const now = performance.now();
const spans: SpanData[] = [
  {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', parentSpanId: '', traceState: 'vendor=1', name: 'GET api', kind: 2,
    start: now, end: now + 12.5,
    attributes: { 'http.request.method': 'GET', 'http.response.status_code': 502, 'lb.tail_kept': true, 'lb.share': 0.25, 'empty': '', 'url.path': '/café/\u{1F600}', 'lb.negative': -3 },
    events: [new SpanEvent('lb.retry', now + 1, { 'lb.try': 2, 'lb.backend': 'b1' }), new SpanEvent('lb.queued', now + 2, undefined)],
    statusCode: 2, statusMessage: 'backend answered 502',
  },
  {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '1111111111111111', parentSpanId: '00f067aa0ba902b7', traceState: '', name: 'GET', kind: 3,
    start: now + 0.5, end: now + 10, attributes: { 'server.port': 8081, 'lb.connection.reused': false }, events: [], statusCode: 0, statusMessage: '',
  },
];

for (const [name, encode, decode] of [['protobuf', encodeProto, decodeProto], ['JSON', encodeJson, decodeJson]] as const) {
  test(`an export in ${name} decodes to the spans given: ids, parent, kind, times, attributes of each type, events, status`, () => {
    const body = encode({ 'service.name': 'lb-test', 'deployment.environment': 'ci' }, { name: 'load-balancer', version: '1.2.3' }, spans);
    const got = decode(body);
    assert.deepEqual(got.resource, { 'service.name': 'lb-test', 'deployment.environment': 'ci' });
    assert.deepEqual(got.scope, { name: 'load-balancer', version: '1.2.3' });
    assert.equal(got.spans.length, 2);
    const [server, client] = got.spans;
    assert.equal(server!.traceId, spans[0]!.traceId);
    assert.equal(server!.spanId, spans[0]!.spanId);
    assert.equal(server!.parentSpanId, '');
    assert.equal(server!.traceState, 'vendor=1');
    assert.equal(server!.name, 'GET api');
    assert.equal(server!.kind, 2);
    assert.deepEqual(server!.attributes, spans[0]!.attributes);
    assert.deepEqual(server!.status, { code: 2, message: 'backend answered 502' });
    assert.deepEqual(server!.events.map((e) => [e.name, e.attributes]), [['lb.retry', { 'lb.try': 2, 'lb.backend': 'b1' }], ['lb.queued', {}]]);
    // Nanoseconds since the epoch: 12.5 ms apart, near now.
    assert.equal(server!.end - server!.start, 12_500_000n);
    const epochMs = Number(server!.start / 1_000_000n);
    assert.ok(Math.abs(epochMs - (performance.timeOrigin + now)) < 2, `start ${epochMs}`);
    assert.ok(server!.events[0]!.time > server!.start && server!.events[0]!.time < server!.end);
    assert.equal(client!.parentSpanId, spans[0]!.spanId);
    assert.equal(client!.kind, 3);
    assert.deepEqual(client!.attributes, { 'server.port': 8081, 'lb.connection.reused': false });
    assert.deepEqual(client!.status, { code: 0, message: '' });
  });
}

test('JSON ids are hex and 64-bit integers strings, as OTLP/JSON has them', () => {
  const doc = JSON.parse(encodeJson({}, { name: 'x', version: '1' }, spans).toString()) as any;
  const span = doc.resourceSpans[0].scopeSpans[0].spans[0];
  assert.equal(span.traceId, spans[0]!.traceId);
  assert.equal(typeof span.startTimeUnixNano, 'string');
  assert.deepEqual(span.attributes.find((a: any) => a.key === 'http.response.status_code').value, { intValue: '502' });
  assert.deepEqual(span.attributes.find((a: any) => a.key === 'lb.share').value, { doubleValue: 0.25 });
});
