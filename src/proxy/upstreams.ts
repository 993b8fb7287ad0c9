import { tlsConnectOptions, type Backend, type BackendTls } from '../pool/index.js';
import { IdleKeeper, UpstreamPool } from './upstream-pool.js';

export interface UpstreamOptions {
  /** Idle connections kept per backend (HTTP_MAX_IDLE_CONNS_PER_HOST). */
  readonly maxIdlePerBackend: number;
  /** Idle connections kept over all backends (HTTP_MAX_IDLE_CONNS). */
  readonly maxIdle: number;
  /** How long an idle upstream connection is kept (a shorter Keep-Alive hint wins). */
  readonly idleTimeout: number;
  /** Connect timeout and the longest pause allowed within a response body. */
  readonly timeout: number;
  /** How https:// backends are verified. */
  readonly tls?: BackendTls;
}

/**
 * Gives each backend its own keep-alive connection pool. Response-header time is enforced by
 * the proxy's own deadline, which starts once the request has been sent.
 */
export function attachUpstreams(backends: readonly Backend[], options: UpstreamOptions): void {
  const keeper = new IdleKeeper(options.maxIdle);
  for (const backend of backends) {
    backend.upstream = new UpstreamPool(backend.origin, {
      maxIdle: options.maxIdlePerBackend,
      keeper,
      client: {
        pipelining: 1,
        keepAliveTimeout: options.idleTimeout,
        keepAliveMaxTimeout: options.idleTimeout,
        headersTimeout: 0,
        bodyTimeout: options.timeout,
        connect: { timeout: options.timeout, ...tlsConnectOptions(options.tls) },
        // The proxy checks Content-Length itself where it matters; a mismatch is an error, not a warning.
        strictContentLength: true,
      },
    });
  }
}

/** Closes every backend's pool: waits for running requests, or destroys them when `force`. */
export async function closeUpstreams(backends: readonly Backend[], force: boolean): Promise<void> {
  await Promise.all(backends.map(async (backend) => {
    const upstream = backend.upstream;
    backend.upstream = undefined;
    if (upstream === undefined) return;
    await (force ? upstream.destroy() : upstream.close());
  }));
}
