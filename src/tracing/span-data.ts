import type { Backend } from '../pool/index.js';
import { KIND_CLIENT, KIND_SERVER, STATUS_ERROR, STATUS_UNSET, type Attributes, type RequestTrace, type SpanData, type TrySpan } from './span.js';

const NO_EVENTS: readonly never[] = [];

/** A backend's host and port, parsed once per backend (at export, never per request). */
const peers = new WeakMap<Backend, { address: string; port: number }>();

function peerOf(backend: Backend): { address: string; port: number } {
  let peer = peers.get(backend);
  if (peer === undefined) {
    const url = new URL(backend.origin);
    const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    peer = { address: url.hostname.replace(/^\[|\]$/g, ''), port };
    peers.set(backend, peer);
  }
  return peer;
}

/**
 * A kept request's spans as the encoders read them: the SERVER span with the HTTP semantic
 * conventions' attributes (https://opentelemetry.io/docs/specs/semconv/http/http-spans/) and
 * ours (`lb.*`), then one CLIENT span per try.
 */
export function spanData(trace: RequestTrace): SpanData[] {
  const attributes: Attributes = {
    'http.request.method': trace.method,
    'url.path': trace.path,
    'http.response.status_code': trace.status,
    'client.address': trace.clientIp,
    'network.protocol.version': trace.protocol,
    'lb.pool': trace.pool,
    'lb.request_id': trace.requestId,
    'lb.tries': trace.tries?.length ?? 0,
  };
  if (trace.route !== '') attributes['http.route'] = trace.route;
  if (trace.host !== '') attributes['server.address'] = trace.host;
  if (trace.errorCode !== '') attributes['error.type'] = trace.errorCode;
  if (!trace.sampled) attributes['lb.tail_kept'] = true;
  if (trace.explain !== undefined) attributes['lb.explain'] = JSON.stringify(trace.explain);
  const events = trace.events ?? NO_EVENTS;
  const spans: SpanData[] = [{
    traceId: trace.traceId, spanId: trace.spanId, parentSpanId: trace.parentSpanId, traceState: trace.traceState,
    name: trace.route === '' ? trace.method : `${trace.method} ${trace.route}`, kind: KIND_SERVER,
    start: trace.start, end: trace.end, attributes, events,
    statusCode: trace.status >= 500 ? STATUS_ERROR : STATUS_UNSET,
    statusMessage: trace.status >= 500 ? trace.errorMessage : '',
  }];
  for (const t of trace.tries ?? []) spans.push(trySpanData(trace, t));
  return spans;
}

function trySpanData(trace: RequestTrace, t: TrySpan): SpanData {
  const peer = peerOf(t.backend);
  const attributes: Attributes = {
    'http.request.method': trace.method,
    'server.address': peer.address,
    'server.port': peer.port,
    'lb.backend': t.backend.id,
    'lb.pool': trace.pool,
    'lb.try': t.n,
    'lb.outcome': t.errorCode !== '' ? 'failed' : t.status > 0 ? 'responded' : 'cancelled',
  };
  if (t.status > 0) attributes['http.response.status_code'] = t.status;
  if (t.firstByte >= 0) attributes['lb.time_to_first_byte_ms'] = Math.round(t.firstByte * 1000) / 1000;
  if (t.reused !== undefined) attributes['lb.connection.reused'] = t.reused;
  if (t.errorCode !== '') attributes['error.type'] = t.errorCode;
  const failed = t.errorCode !== '' || t.status >= 500;
  return {
    traceId: trace.traceId, spanId: t.spanId, parentSpanId: trace.spanId, traceState: trace.traceState,
    name: trace.method, kind: KIND_CLIENT, start: t.start, end: t.end === 0 ? trace.end : t.end, attributes,
    events: t.events ?? NO_EVENTS,
    statusCode: failed ? STATUS_ERROR : STATUS_UNSET,
    statusMessage: t.errorCode !== '' ? t.errorMessage : '',
  };
}
