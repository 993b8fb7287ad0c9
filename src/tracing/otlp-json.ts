import type { AttributeValue, Attributes, SpanData, SpanEvent } from './span.js';
import { epochNanos } from './time.js';

/**
 * ExportTraceServiceRequest in OTLP/JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
 * protobuf's JSON mapping with lowerCamelCase names, trace and span ids as hex (not base64),
 * enums as integers and 64-bit integers as decimal strings.
 */
export function encodeJson(resource: Attributes, scope: { readonly name: string; readonly version: string }, spans: readonly SpanData[]): Buffer {
  const body = {
    resourceSpans: [{
      resource: { attributes: keyValues(resource) },
      scopeSpans: [{ scope: { name: scope.name, version: scope.version }, spans: spans.map(jsonSpan) }],
    }],
  };
  return Buffer.from(JSON.stringify(body));
}

function jsonSpan(span: SpanData): object {
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    ...(span.traceState === '' ? {} : { traceState: span.traceState }),
    ...(span.parentSpanId === '' ? {} : { parentSpanId: span.parentSpanId }),
    name: span.name,
    kind: span.kind,
    startTimeUnixNano: epochNanos(span.start).toString(),
    endTimeUnixNano: epochNanos(span.end).toString(),
    attributes: keyValues(span.attributes),
    events: span.events.map(jsonEvent),
    status: { ...(span.statusMessage === '' ? {} : { message: span.statusMessage }), code: span.statusCode },
  };
}

function jsonEvent(event: SpanEvent): object {
  return { timeUnixNano: epochNanos(event.time).toString(), name: event.name, attributes: keyValues(event.attributes ?? {}) };
}

function keyValues(attributes: Attributes): object[] {
  return Object.keys(attributes).map((key) => ({ key, value: anyValue(attributes[key]!) }));
}

function anyValue(value: AttributeValue): object {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Number.isSafeInteger(value)) return { intValue: String(value) };
  return { doubleValue: value };
}
