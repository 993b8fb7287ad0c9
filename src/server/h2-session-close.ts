import { constants, type ServerHttp2Session } from 'node:http2';
import type { Logger } from 'pino';

/** Why the guard closed a session; the counts that decided it go to the log line. */
export class SessionClosed extends Error {
  readonly code = 'LB_ERR_H2_SESSION_CLOSED';
  constructor(reason: string, readonly counts: Record<string, number>) {
    super(reason);
  }
}

/**
 * The HTTP/2 error code of the nghttp2 library errors (nghttp2.h) that node ends a session on.
 * node sends GOAWAY INTERNAL_ERROR for all of them, which tells a client it did nothing wrong.
 */
const GOAWAY_CODES: ReadonlyMap<number, number> = new Map([
  [-505, constants.NGHTTP2_PROTOCOL_ERROR], // NGHTTP2_ERR_PROTO: e.g. more streams than SETTINGS_MAX_CONCURRENT_STREAMS
  [-510, constants.NGHTTP2_STREAM_CLOSED], // NGHTTP2_ERR_STREAM_CLOSED
  [-522, constants.NGHTTP2_FRAME_SIZE_ERROR], // NGHTTP2_ERR_FRAME_SIZE_ERROR
  [-523, constants.NGHTTP2_COMPRESSION_ERROR], // NGHTTP2_ERR_HEADER_COMP
  [-524, constants.NGHTTP2_FLOW_CONTROL_ERROR], // NGHTTP2_ERR_FLOW_CONTROL: a window past 2^31-1
  [-536, constants.NGHTTP2_PROTOCOL_ERROR], // NGHTTP2_ERR_SETTINGS_EXPECTED
  [-537, constants.NGHTTP2_ENHANCE_YOUR_CALM], // NGHTTP2_ERR_TOO_MANY_SETTINGS
  [-903, constants.NGHTTP2_PROTOCOL_ERROR], // NGHTTP2_ERR_BAD_CLIENT_MAGIC
  [-904, constants.NGHTTP2_ENHANCE_YOUR_CALM], // NGHTTP2_ERR_FLOODED: ACKs and RST_STREAMs it does not read
  [-905, constants.NGHTTP2_ENHANCE_YOUR_CALM], // NGHTTP2_ERR_TOO_MANY_CONTINUATIONS (CVE-2024-27316's kind)
]);

/** RFC 9113 §7's error codes by number, for the log. */
const CODE_NAMES = ['NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR',
  'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED'];

/**
 * node ends a session on an nghttp2 error with `destroy(new NghttpError(errno))`, which sends
 * GOAWAY INTERNAL_ERROR whatever the error. This session's own `destroy` is the one place to
 * send the code the error means instead (FLOW_CONTROL_ERROR for a window overflow, RFC 9113
 * §6.9.1), and to log why it ended. The conformance tests in test/h2-hardening.test.ts break
 * if node changes this path.
 */
export function withTrueGoawayCodes(session: ServerHttp2Session, log: Logger): void {
  const destroy = session.destroy;
  session.destroy = function (this: ServerHttp2Session, error?: Error, code?: number): void {
    if (error instanceof Error && !this.destroyed) {
      // A GOAWAY with an error from the client ends the session here too, with its own code: not ours to log.
      const errno = (error as { errno?: unknown }).errno;
      const tooManyInvalid = (error as { code?: unknown }).code === 'ERR_HTTP2_TOO_MANY_INVALID_FRAMES';
      if (code === undefined) code = tooManyInvalid ? constants.NGHTTP2_ENHANCE_YOUR_CALM : typeof errno === 'number' ? GOAWAY_CODES.get(errno) : undefined;
      const ours = error instanceof SessionClosed || tooManyInvalid || typeof errno === 'number';
      if (ours && code !== undefined) {
        const calm = code === constants.NGHTTP2_ENHANCE_YOUR_CALM;
        const counts = error instanceof SessionClosed ? error.counts : {};
        log[calm ? 'warn' : 'info']({ reason: error.message, client: this.socket?.remoteAddress, ...counts }, `HTTP/2 session closed: ${CODE_NAMES[code] ?? code}`);
      }
    }
    destroy.call(this, error, code);
  };
}
