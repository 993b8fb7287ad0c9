import type { ServerOptions } from 'node:http2';
import type { ClientLimits } from '../http1/index.js';

/**
 * The node:http2 server options of every client-facing HTTP/2 listener: the TLS one (ALPN h2)
 * and the plain one (h2c with prior knowledge). One place, so that both get the same limits.
 */
export function h2ServerOptions(limits: ClientLimits): ServerOptions {
  return {
    settings: { maxHeaderListSize: limits.maxHeaderSize },
    // A session sending this many frames that break the protocol is closed.
    maxSessionInvalidFrames: 100,
  };
}
