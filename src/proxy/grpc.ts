import type { ContextResponse, RequestContext } from '../context/index.js';
import type { ProxyError } from '../errors/index.js';

/** gRPC status codes the balancer answers with (grpc/doc/statuscodes.md). */
const DEADLINE_EXCEEDED = 4;
const RESOURCE_EXHAUSTED = 8;
const UNIMPLEMENTED = 12;
const INTERNAL = 13;
const UNAVAILABLE = 14;

/** A gRPC call (`content-type: application/grpc`, `application/grpc+proto`, …): its errors are gRPC statuses, not HTML-ish bodies. */
export function isGrpc(ctx: RequestContext): boolean {
  const type = ctx.req.headers['content-type'];
  return type !== undefined && type.startsWith('application/grpc') && (type.length === 16 || type.charCodeAt(16) === 43 /* + */ || type.charCodeAt(16) === 59 /* ; */);
}

/**
 * The gRPC status for one of our HTTP error statuses, as gRPC maps HTTP statuses
 * (grpc/doc/http-grpc-status-mapping.md), but for the timeouts (504 and 408: DEADLINE_EXCEEDED)
 * and an oversized body (413: RESOURCE_EXHAUSTED), whose cause the balancer knows.
 */
export function grpcStatus(status: number): number {
  switch (status) {
    case 504: case 408: return DEADLINE_EXCEEDED;
    case 413: return RESOURCE_EXHAUSTED;
    case 404: return UNIMPLEMENTED;
    case 502: case 503: case 429: return UNAVAILABLE;
    default: return INTERNAL;
  }
}

/** `grpc-message` is percent-encoded (gRPC over HTTP/2: Percent-Encoded), bytes outside printable ASCII and `%` itself. */
export function grpcMessage(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Answers a gRPC call the balancer could not get answered: HTTP 200 and a Trailers-Only
 * response (the status in the one HEADERS frame, no body), `grpc-status` from the error's
 * status and `grpc-message` its message, so a gRPC client reports UNAVAILABLE or
 * DEADLINE_EXCEEDED instead of a protocol error.
 */
export function answerGrpc(ctx: RequestContext, error: ProxyError): void {
  const res = ctx.res;
  res.statusCode = 200;
  res.setHeader('content-type', 'application/grpc');
  res.setHeader('grpc-status', String(grpcStatus(error.status)));
  res.setHeader('grpc-message', grpcMessage(error.message));
  if (ctx.id !== '') res.setHeader('x-request-id', ctx.id);
  if (ctx.req.httpVersionMajor !== 2) res.setHeader('content-length', 0);
  ctx.bytes = 0;
  res.end();
}

/**
 * Ends a gRPC response that has started (a backend lost mid-stream) with the error's status in
 * its trailers, which is how a gRPC client learns it (a reset stream reads as INTERNAL). False
 * when trailers cannot be sent (not HTTP/2, or the response is over): then it is cut.
 */
export function endGrpc(ctx: RequestContext, error: ProxyError): boolean {
  const res = ctx.res as ContextResponse;
  if (ctx.req.httpVersionMajor !== 2 || res.writableEnded || res.destroyed) return false;
  res.addTrailers({ 'grpc-status': String(grpcStatus(error.status)), 'grpc-message': grpcMessage(error.message) });
  res.end();
  return true;
}
