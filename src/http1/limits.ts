import type { Config } from '../config/index.js';

/**
 * Limits against slow and hostile clients (MAX_HEADER_SIZE, MAX_HEADERS, HEADER_TIMEOUT,
 * CLIENT_IDLE_TIMEOUT, MAX_BODY_SIZE, MAX_CONNECTIONS): sizes in bytes, times in ms, 0 unlimited.
 */
export type ClientLimits = Config['limits'];

export const DEFAULT_LIMITS: ClientLimits = {
  maxHeaderSize: 16 * 1024, maxHeaders: 100, headerTimeout: 10_000, idleTimeout: 60_000, bodyTimeout: 60_000, sendTimeout: 60_000,
  maxBodySize: 0, maxConnections: 0, h2MaxConcurrentStreams: 100,
};
