import type { CheckResult } from './check.js';

/**
 * The bytes of the gRPC health-checking protocol (grpc/doc/health-checking.md), by hand: the
 * two messages are one field each, which does not call for a protobuf library at runtime.
 */

/** The method a gRPC server that does health checking serves. */
export const HEALTH_CHECK_METHOD = '/grpc.health.v1.Health/Check';

/** `HealthCheckResponse.ServingStatus`, by number. */
const SERVING_STATUSES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

/** gRPC status codes (grpc/doc/statuscodes.md), by number. */
const GRPC_STATUSES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'] as const;

/** The longest grpc-message a reason quotes. */
const MESSAGE_LIMIT = 200;

/**
 * `HealthCheckRequest { string service = 1; }` as one length-prefixed gRPC message: a byte 0 (not
 * compressed), the length in 4 bytes big-endian, then the protobuf: tag 0x0a (field 1,
 * length-delimited), the name's length as a varint, the name in UTF-8. The empty name (the
 * server as a whole) is the empty message: proto3 leaves a field at its default out.
 */
export function encodeHealthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const length = varint(name.length);
  const size = name.length === 0 ? 0 : 1 + length.length + name.length;
  const message = Buffer.alloc(5 + size);
  message.writeUInt32BE(size, 1);
  if (size > 0) {
    message[5] = 0x0a;
    length.copy(message, 6);
    name.copy(message, 6 + length.length);
  }
  return message;
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  for (; n > 0x7f; n = Math.floor(n / 128)) bytes.push((n % 128) | 0x80);
  bytes.push(n);
  return Buffer.from(bytes);
}

/** A decoded `HealthCheckResponse`: its `status` (a ServingStatus number), or why it could not be read. */
export type DecodedResponse = { readonly status: number } | { readonly invalid: string };

/**
 * Reads the first length-prefixed message of a response body as `HealthCheckResponse { enum
 * status = 1; }`. A missing field is its proto3 default, UNKNOWN (0); fields it does not know are
 * skipped by their wire type, as protobuf requires of a reader.
 */
export function decodeHealthCheckResponse(body: Buffer): DecodedResponse {
  if (body.length === 0) return { invalid: 'grpc response without a message' };
  if (body.length < 5) return { invalid: 'grpc response message truncated' };
  // Compression was not offered (no grpc-accept-encoding), so a compressed message is a mistake.
  if (body[0] !== 0) return { invalid: body[0] === 1 ? 'grpc response message compressed, which was not asked for' : `grpc response message with flags ${body[0]}` };
  const end = 5 + body.readUInt32BE(1);
  if (body.length < end) return { invalid: 'grpc response message truncated' };
  let status = 0;
  const at = { offset: 5 };
  while (at.offset < end) {
    const key = readVarint(body, at, end);
    if (key === undefined) return { invalid: 'invalid HealthCheckResponse (truncated field)' };
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (wireType === 0) {
      const value = readVarint(body, at, end);
      if (value === undefined) return { invalid: 'invalid HealthCheckResponse (truncated field)' };
      if (field === 1) status = value;
    } else if (wireType === 1 || wireType === 5) {
      at.offset += wireType === 1 ? 8 : 4;
    } else if (wireType === 2) {
      const length = readVarint(body, at, end);
      if (length === undefined) return { invalid: 'invalid HealthCheckResponse (truncated field)' };
      at.offset += length;
    } else {
      return { invalid: `invalid HealthCheckResponse (wire type ${wireType})` };
    }
    if (at.offset > end) return { invalid: 'invalid HealthCheckResponse (truncated field)' };
  }
  return { status };
}

/** A base-128 varint of at most 10 bytes (a negative int32 takes 10), as a number; undefined past `end`. */
function readVarint(body: Buffer, at: { offset: number }, end: number): number | undefined {
  let value = 0;
  for (let i = 0; i < 10 && at.offset < end; i++) {
    const byte = body[at.offset++]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if (byte < 0x80) return value;
  }
  return undefined;
}

/** A serving status as a check's result: SERVING passes, anything else fails naming it (`grpc NOT_SERVING`). */
export function servingVerdict(status: number): CheckResult {
  if (status === 1) return { ok: true };
  return { ok: false, reason: `grpc ${SERVING_STATUSES[status] ?? `serving status ${status}`}` };
}

/**
 * A non-zero grpc-status as a check's failure: `grpc-status 12 (UNIMPLEMENTED): message`, the
 * message percent-decoded (it is sent percent-encoded) and cut short.
 */
export function grpcStatusReason(code: number, message: string | undefined): string {
  const name = GRPC_STATUSES[code] ?? 'unknown code';
  let text = message ?? '';
  try {
    text = decodeURIComponent(text);
  } catch {
    // Not valid percent-encoding: shown as sent.
  }
  text = text.length > MESSAGE_LIMIT ? `${text.slice(0, MESSAGE_LIMIT)}…` : text;
  return `grpc-status ${code} (${name})${text === '' ? '' : `: ${text}`}`;
}

/**
 * The `grpc-timeout` header for the check's deadline in ms (at most 8 digits and a unit, m for
 * milliseconds, S for seconds), so that the server stops working on a check given up on.
 */
export function grpcTimeout(ms: number): string {
  const millis = Math.max(1, Math.ceil(ms));
  return millis <= 99_999_999 ? `${millis}m` : `${Math.min(99_999_999, Math.ceil(millis / 1000))}S`;
}
