import { STATUS_CODES } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { ClientRequest, ClientResponse, ContextResponse, RequestContext } from '../context/index.js';
import type { ProxyError } from '../errors/index.js';

/** gRPC status codes the balancer answers with or acts on (grpc/doc/statuscodes.md). */
const UNKNOWN = 2;
const DEADLINE_EXCEEDED = 4;
const PERMISSION_DENIED = 7;
const RESOURCE_EXHAUSTED = 8;
const UNIMPLEMENTED = 12;
const INTERNAL = 13;
export const GRPC_UNAVAILABLE = 14;
const UNAUTHENTICATED = 16;

/** The highest gRPC status code defined (UNAUTHENTICATED); `GRPC_OTHER` stands for anything else a backend sends. */
export const GRPC_MAX_CODE = 16;
export const GRPC_OTHER = GRPC_MAX_CODE + 1;
/** No grpc-status seen or sent (a request that is not a gRPC call, or a call cut before its status). */
export const GRPC_NONE = -1;

/** A gRPC call (`content-type: application/grpc`, `application/grpc+proto`, …): its errors are gRPC statuses, not HTML-ish bodies. */
export function isGrpcRequest(req: ClientRequest): boolean {
  const type = req.headers['content-type'];
  return type !== undefined && type.startsWith('application/grpc') && (type.length === 16 || type.charCodeAt(16) === 43 /* + */ || type.charCodeAt(16) === 59 /* ; */);
}

/** `isGrpcRequest` for a request's context. */
export function isGrpc(ctx: RequestContext): boolean {
  return isGrpcRequest(ctx.req);
}

/**
 * The gRPC status for one of the balancer's HTTP statuses, as gRPC maps HTTP statuses
 * (grpc/doc/http-grpc-status-mapping.md: 400 INTERNAL, 401 UNAUTHENTICATED, 403
 * PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503 UNAVAILABLE, others UNKNOWN), but where the
 * balancer knows the cause better: its timeouts (504, 408) are DEADLINE_EXCEEDED, a body or a
 * head too large (413, 431) and its rate limit (429) RESOURCE_EXHAUSTED, and its own 5xx failures INTERNAL.
 */
export function grpcStatus(status: number): number {
  switch (status) {
    case 504: case 408: return DEADLINE_EXCEEDED;
    // 429 is the balancer's own rate limit: gRPC's code for it (a backend's 429 is passed on as it is).
    case 413: case 431: case 429: return RESOURCE_EXHAUSTED;
    case 400: return INTERNAL;
    case 401: return UNAUTHENTICATED;
    case 403: return PERMISSION_DENIED;
    case 404: return UNIMPLEMENTED;
    case 502: case 503: return GRPC_UNAVAILABLE;
    default: return status >= 500 && status <= 599 ? INTERNAL : UNKNOWN;
  }
}

/**
 * A backend's `grpc-status` value as a code from 0 to 16, `GRPC_OTHER` for any other value
 * (not a number, out of range), `GRPC_NONE` when there is none. Digits are read in place.
 */
export function grpcCode(value: string | string[] | undefined): number {
  if (value === undefined) return GRPC_NONE;
  if (typeof value !== 'string') return GRPC_OTHER;
  const n = value.length;
  if (n === 0 || n > 2) return GRPC_OTHER;
  let code = 0;
  for (let i = 0; i < n; i++) {
    const digit = value.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return GRPC_OTHER;
    code = code * 10 + digit;
  }
  return code <= GRPC_MAX_CODE ? code : GRPC_OTHER;
}

/** Longest `grpc-timeout` honoured, in ms (a timer cannot be set further out: setTimeout's 2^31-1 ms); longer ones are no deadline. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/**
 * A `grpc-timeout` header in milliseconds, or -1 when there is none or it is malformed (and so
 * ignored, as gRPC servers do). The value is 1 to 8 ASCII digits and a unit: H (hours), M
 * (minutes), S (seconds), m (ms), u (µs), n (ns) (gRPC over HTTP/2, "Timeout"). Read in place: nothing is allocated.
 */
export function parseGrpcTimeout(value: string | string[] | undefined): number {
  if (typeof value !== 'string') return -1;
  const n = value.length;
  if (n < 2 || n > 9) return -1;
  let amount = 0;
  for (let i = 0; i < n - 1; i++) {
    const digit = value.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    amount = amount * 10 + digit;
  }
  let ms: number;
  switch (value.charCodeAt(n - 1)) {
    case 72 /* H */: ms = amount * 3_600_000; break;
    case 77 /* M */: ms = amount * 60_000; break;
    case 83 /* S */: ms = amount * 1000; break;
    case 109 /* m */: ms = amount; break;
    case 117 /* u */: ms = amount / 1000; break;
    case 110 /* n */: ms = amount / 1_000_000; break;
    default: return -1;
  }
  return ms > MAX_TIMEOUT_MS ? -1 : ms;
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
 * Writes the balancer's own answer to a gRPC call: HTTP 200 and a Trailers-Only response (the
 * status in the one HEADERS frame, no body), `grpc-status` from the HTTP `status` the balancer
 * would have answered and `grpc-message` the reason, so a gRPC client reports UNAVAILABLE,
 * DEADLINE_EXCEEDED, UNIMPLEMENTED… instead of a protocol error. Returns the gRPC code sent.
 * For requests that have no context yet (the listener's refusals); `answerGrpc` otherwise.
 */
export function writeGrpcAnswer(req: ClientRequest, res: ClientResponse, status: number, message: string, id: string): number {
  const code = grpcStatus(status);
  res.statusCode = 200;
  res.setHeader('content-type', 'application/grpc');
  res.setHeader('grpc-status', String(code));
  res.setHeader('grpc-message', grpcMessage(message));
  if (id !== '') res.setHeader('x-request-id', id);
  if (req.httpVersionMajor !== 2) res.setHeader('content-length', 0);
  // Over HTTP/2, ended a turn later: a Trailers-Only answer ended in the same turn as the call's
  // stream arrived is lost on node 26 over TLS (the client sees the stream end with no HEADERS,
  // and grpc-js reports INTERNAL, "Call ended without gRPC status").
  if (req.httpVersionMajor === 2) setImmediate(endAnswer, res);
  else res.end();
  return code;
}

function endAnswer(res: ClientResponse): void {
  if (!(res as unknown as Http2ServerResponse).writableEnded && !(res as unknown as Http2ServerResponse).destroyed) res.end();
}

/**
 * Answers a gRPC call at the balancer (see `writeGrpcAnswer`) instead of with the HTTP `status`;
 * the access line keeps `status` and the error, and the gRPC code is counted.
 */
export function answerGrpc(ctx: RequestContext, status: number, message?: string): void {
  ctx.bytes = 0;
  ctx.grpcStatus = writeGrpcAnswer(ctx.req, ctx.res, status, message ?? ctx.error?.message ?? `${status} ${STATUS_CODES[status] ?? ''}`.trim(), ctx.id);
}

/**
 * Ends a gRPC response that has started (a backend lost mid-stream) with the error's status in
 * its trailers, which is how a gRPC client learns it (a reset stream reads as INTERNAL). False
 * when trailers cannot be sent (not HTTP/2, or the response is over): then it is cut.
 */
export function endGrpc(ctx: RequestContext, error: ProxyError): boolean {
  const res = ctx.res as ContextResponse;
  if (ctx.req.httpVersionMajor !== 2 || res.writableEnded || res.destroyed) return false;
  const code = grpcStatus(error.status);
  res.addTrailers({ 'grpc-status': String(code), 'grpc-message': grpcMessage(error.message) });
  res.end();
  ctx.grpcStatus = code;
  return true;
}
