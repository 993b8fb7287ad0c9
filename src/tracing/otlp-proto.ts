import { ProtoWriter } from './proto-writer.js';
import type { AttributeValue, Attributes, SpanData, SpanEvent } from './span.js';
import { epochNanos } from './time.js';

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
 */
export function encodeProto(resource: Attributes, scope: { readonly name: string; readonly version: string }, spans: readonly SpanData[]): Buffer {
  const scopeSpans = new ProtoWriter(1024);
  scopeSpans.bytes(1, new ProtoWriter(64).string(1, scope.name).string(2, scope.version).finish());
  for (const span of spans) scopeSpans.bytes(2, encodeSpan(span));
  const resourceSpans = new ProtoWriter(1024);
  resourceSpans.bytes(1, keyValues(new ProtoWriter(), 1, resource).finish());
  resourceSpans.bytes(2, scopeSpans.finish());
  return new ProtoWriter(1024).bytes(1, resourceSpans.finish()).finish();
}

function encodeSpan(span: SpanData): Buffer {
  const w = new ProtoWriter(512);
  w.hex(1, span.traceId).hex(2, span.spanId).string(3, span.traceState).hex(4, span.parentSpanId)
    .string(5, span.name).uint(6, span.kind)
    .fixed64(7, epochNanos(span.start)).fixed64(8, epochNanos(span.end));
  keyValues(w, 9, span.attributes);
  for (const event of span.events) w.bytes(11, encodeEvent(event));
  if (span.statusCode !== 0 || span.statusMessage !== '') {
    w.bytes(15, new ProtoWriter(64).string(2, span.statusMessage).uint(3, span.statusCode).finish());
  }
  return w.finish();
}

function encodeEvent(event: SpanEvent): Buffer {
  const w = new ProtoWriter(128);
  w.fixed64(1, epochNanos(event.time)).string(2, event.name);
  if (event.attributes !== undefined) keyValues(w, 3, event.attributes);
  return w.finish();
}

/** Each attribute as a KeyValue in `field` of `w`. */
function keyValues(w: ProtoWriter, field: number, attributes: Attributes): ProtoWriter {
  for (const key of Object.keys(attributes)) {
    const kv = new ProtoWriter(64).string(1, key);
    kv.bytes(2, anyValue(attributes[key]!));
    w.bytes(field, kv.finish());
  }
  return w;
}

function anyValue(value: AttributeValue): Buffer {
  const w = new ProtoWriter(32);
  if (typeof value === 'string') {
    // An empty string is still a value: written with its (zero) length, not left out.
    w.bytes(1, Buffer.from(value));
  } else if (typeof value === 'boolean') {
    w.tag(2, 0).varint(value ? 1 : 0);
  } else if (Number.isSafeInteger(value)) {
    w.tag(3, 0).varint(BigInt(value));
  } else {
    w.double(4, value);
  }
  return w.finish();
}
