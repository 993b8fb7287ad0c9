import { Pool as UndiciPool } from 'undici';
import { tlsConnectOptions, type Backend, type BackendTls } from '../pool/index.js';

export interface UpstreamOptions {
  /** Connections per backend; every one is kept alive and reused. */
  readonly connections: number;
  /** How long an idle upstream connection is kept (a shorter Keep-Alive hint wins). */
  readonly idleTimeout: number;
  /** Connect timeout and the longest pause allowed within a response body. */
  readonly timeout: number;
  /** How https:// backends are verified. */
  readonly tls?: BackendTls;
}

/**
 * Gives each backend its own keep-alive connection pool (undici), created once at start-up.
 * Response-header time is enforced by the proxy's own timer, which also covers queueing.
 */
export function attachUpstreams(backends: readonly Backend[], options: UpstreamOptions): void {
  for (const backend of backends) {
    backend.dispatcher = new UndiciPool(backend.origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: options.idleTimeout,
      keepAliveMaxTimeout: options.idleTimeout,
      headersTimeout: 0,
      bodyTimeout: options.timeout,
      connect: { timeout: options.timeout, ...tlsConnectOptions(options.tls) },
      // The proxy checks Content-Length itself where it matters; a mismatch is an error, not a warning.
      strictContentLength: true,
    });
  }
}

/** Closes every backend's pool: waits for running requests, or destroys them when `force`. */
export async function closeUpstreams(backends: readonly Backend[], force: boolean): Promise<void> {
  await Promise.all(backends.map(async (backend) => {
    const dispatcher = backend.dispatcher;
    backend.dispatcher = undefined;
    if (dispatcher === undefined) return;
    await (force ? dispatcher.destroy() : dispatcher.close()).catch(() => undefined);
  }));
}
