import type { ServerSessionOptions } from 'node:http2';
import type { ClientLimits } from '../http1/index.js';

/** Pseudo-header fields a request may carry besides its headers: :method, :scheme, :authority, :path, :protocol. */
const PSEUDO_HEADERS = 5;

/**
 * Malformed frames and frames nghttp2 had to ignore (bad padding, a zero-length DATA frame that
 * does not end its stream, ...) a session may send before it is closed; node's default is 1,000.
 */
export const MAX_INVALID_FRAMES = 100;

/**
 * Streams a session may have refused (over SETTINGS_MAX_CONCURRENT_STREAMS, or while the
 * session is over its memory) before node closes it with ENHANCE_YOUR_CALM.
 */
export const MAX_REJECTED_STREAMS = 100;

/** Entries in one SETTINGS frame (RFC 9113 §6.5 knows 7; nghttp2 refuses more with ENHANCE_YOUR_CALM). */
export const MAX_SETTINGS_ENTRIES = 32;

/**
 * The node:http2 options of every listener that speaks HTTP/2 (over TLS by ALPN, or h2c), from
 * its client limits. What nghttp2 enforces from them, and what the session guard adds on top,
 * is listed in the README's HTTP/2 limits.
 *
 * - SETTINGS_MAX_CONCURRENT_STREAMS is H2_MAX_CONCURRENT_STREAMS (100 by default, HAProxy's):
 *   node's default is unlimited, so one connection could hold any number of backend requests.
 * - SETTINGS_MAX_HEADER_LIST_SIZE is MAX_HEADER_SIZE: a larger header section resets its stream.
 * - The number of header fields node takes is twice MAX_HEADERS (plus the pseudo-headers): a
 *   request with more than MAX_HEADERS reaches the listener and is answered 431 as over HTTP/1.1
 *   (a gRPC call its RESOURCE_EXHAUSTED, which a reset stream could not say); beyond twice as
 *   many node resets the stream itself, and the fields are never held (its default, 128, made
 *   MAX_HEADERS over 123 unreachable over HTTP/2).
 */
export function h2ServerOptions(limits: ClientLimits): ServerSessionOptions {
  return {
    settings: {
      maxConcurrentStreams: limits.h2MaxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderSize,
    },
    maxHeaderListPairs: 2 * (limits.maxHeaders + 1) + PSEUDO_HEADERS,
    maxSessionInvalidFrames: MAX_INVALID_FRAMES,
    maxSessionRejectedStreams: MAX_REJECTED_STREAMS,
    maxSettings: MAX_SETTINGS_ENTRIES,
  };
}
