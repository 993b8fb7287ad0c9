import { performance } from 'node:perf_hooks';
import { ProtoWriter, utf8Length, varintSize } from './proto-writer.js';
import type { AttributeValue, Attributes, SpanData } from './span.js';

/**
 * ExportTraceServiceRequest in protobuf, by the field numbers of opentelemetry-proto
 * (collector/trace/v1/trace_service.proto, trace/v1/trace.proto, common/v1/common.proto,
 * resource/v1/resource.proto):
 *
 * ```
 * ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
 * ResourceSpans  { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
 * Resource       { repeated KeyValue attributes = 1; }
 * ScopeSpans     { InstrumentationScope scope = 1; repeated Span spans = 2; }
 * InstrumentationScope { string name = 1; string version = 2; }
 * Span  { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4;
 *         string name = 5; SpanKind kind = 6; fixed64 start_time_unix_nano = 7;
 *         fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9;
 *         repeated Event events = 11; Status status = 15; }
 * Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
 * Status { string message = 2; StatusCode code = 3; }
 * KeyValue { string key = 1; AnyValue value = 2; }
 * AnyValue { oneof { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; } }
 * ```
 *
 * A KeyValue's length is computed from its parts and it is written in place; a span, an event
 * and a status are written into writers reused for every one of them, then copied with their
 * length: an export of 512 spans makes a handful of buffers, not thousands.
 */
export function encodeProto(resource: Attributes, scope: { readonly name: string; readonly version: string }, spans: readonly SpanData[]): Buffer {
  const scopeSpans = new ProtoWriter(256 * spans.length + 64);
  scopeSpans.bytes(1, new ProtoWriter(64).string(1, scope.name).string(2, scope.version).finish());
  const span = new ProtoWriter(1024);
  const inner = new ProtoWriter(256);
  for (const s of spans) scopeSpans.bytes(2, encodeSpan(span.reset(), inner, s));
  const resourceSpans = new ProtoWriter(scopeSpans.length + 512);
  resourceSpans.bytes(1, keyValues(new ProtoWriter(), 1, resource).finish());
  resourceSpans.bytes(2, scopeSpans.finish());
  return new ProtoWriter(resourceSpans.length + 8).bytes(1, resourceSpans.finish()).finish();
}

/** performance.now() ms as microseconds since the epoch. */
function micros(ms: number): number {
  return Math.round((performance.timeOrigin + ms) * 1000);
}

function encodeSpan(w: ProtoWriter, inner: ProtoWriter, span: SpanData): Buffer {
  w.hexAlways(1, span.traceId).hexAlways(2, span.spanId).string(3, span.traceState);
  if (span.parentSpanId !== '') w.hexAlways(4, span.parentSpanId);
  w.string(5, span.name).uint(6, span.kind)
    .fixed64Micros(7, micros(span.start)).fixed64Micros(8, micros(span.end));
  keyValues(w, 9, span.attributes);
  for (const event of span.events) {
    inner.reset().fixed64Micros(1, micros(event.time)).string(2, event.name);
    if (event.attributes !== undefined) keyValues(inner, 3, event.attributes);
    w.bytes(11, inner.finish());
  }
  if (span.statusCode !== 0 || span.statusMessage !== '') w.bytes(15, inner.reset().string(2, span.statusMessage).uint(3, span.statusCode).finish());
  return w.finish();
}

/** Each attribute as a KeyValue in `field` of `w`, written in place. */
function keyValues(w: ProtoWriter, field: number, attributes: Attributes): ProtoWriter {
  for (const key of Object.keys(attributes)) keyValue(w, field, key, attributes[key]!);
  return w;
}

function keyValue(w: ProtoWriter, field: number, key: string, value: AttributeValue): void {
  const keyBytes = utf8Length(key);
  let valueBytes = 0;
  let anyBytes: number;
  if (typeof value === 'string') {
    // An empty string is still a value: written with its (zero) length, not left out.
    valueBytes = utf8Length(value);
    anyBytes = 1 + varintSize(valueBytes) + valueBytes;
  } else if (typeof value === 'boolean') {
    anyBytes = 2;
  } else if (Number.isSafeInteger(value)) {
    // A negative int64 is ten bytes of two's complement.
    anyBytes = 1 + (value < 0 ? 10 : varintSize(value));
  } else {
    anyBytes = 9;
  }
  w.tag(field, 2).varint(1 + varintSize(keyBytes) + keyBytes + 1 + varintSize(anyBytes) + anyBytes);
  w.stringAlways(1, key, keyBytes);
  w.tag(2, 2).varint(anyBytes);
  if (typeof value === 'string') w.stringAlways(1, value, valueBytes);
  else if (typeof value === 'boolean') w.tag(2, 0).varint(value ? 1 : 0);
  else if (Number.isSafeInteger(value)) w.tag(3, 0).varint(value < 0 ? BigInt(value) : value);
  else w.double(4, value);
}
