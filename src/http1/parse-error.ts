/** What llhttp (node:http's parser, or the fast engine's) reports on a request it refuses. */
export interface ParseError {
  readonly code?: string;
  /** llhttp's reason: which rule the bytes broke. */
  readonly reason?: string;
  readonly bytesParsed?: number;
  /** The bytes being parsed when it failed (node:http sets it; the fast engine passes its read). */
  readonly rawPacket?: unknown;
}

/**
 * The status a listener answers a request llhttp refused with: 414 or 431 for a head over
 * MAX_HEADER_SIZE, 408 for a head too slow (node:http's timeout), 505 for a well-formed version
 * other than 1.0/1.1 (llhttp says "Invalid HTTP version" of `HTTP/1.2` or `HTTP/3.0`; a version
 * that is not `HTTP/digit.digit` is malformed: 400; see `versionProblem`), else 400.
 */
export function parseErrorStatus(err: ParseError): number {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW': return overflowedInRequestLine(err) ? 414 : 431;
    case 'ERR_HTTP_REQUEST_TIMEOUT': return 408;
    case 'HPE_INVALID_VERSION': return err.reason === 'Invalid HTTP version' ? 505 : 400;
    default: return 400;
  }
}

/** The request line, then a header line, as their first bytes look. */
const REQUEST_LINE_START = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ /;

/**
 * Whether a head that grew past MAX_HEADER_SIZE did so in its request line (414 URI Too Long,
 * RFC 9112 §3) rather than in its headers (431). llhttp stops right after the token that
 * crossed the limit: the target if " HTTP/" follows it, or if the line it is on starts as a
 * request line does (a method and a space; a header line has a colon first).
 */
export function overflowedInRequestLine(err: ParseError): boolean {
  const { rawPacket: packet, bytesParsed } = err;
  if (!Buffer.isBuffer(packet)) return false;
  const at = Math.min(bytesParsed ?? packet.length, packet.length);
  if (packet.subarray(at, at + 6).toString('latin1') === ' HTTP/') return true;
  const lineStart = at === 0 ? 0 : packet.lastIndexOf(10, at - 1) + 1;
  return REQUEST_LINE_START.test(packet.subarray(lineStart, Math.min(at, lineStart + 32)).toString('latin1'));
}
