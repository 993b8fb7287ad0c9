import type { Client } from 'undici';
import { tlsConnectOptions, type Backend, type BackendTls } from '../pool/index.js';
import { IdleKeeper, UpstreamPool } from './upstream-pool.js';

export interface UpstreamOptions {
  /** Idle connections kept per backend (HTTP_MAX_IDLE_CONNS_PER_HOST). */
  readonly maxIdlePerBackend: number;
  /** Idle connections kept over all backends (HTTP_MAX_IDLE_CONNS). */
  readonly maxIdle: number;
  /** How long an idle upstream connection is kept (a shorter Keep-Alive hint wins). */
  readonly idleTimeout: number;
  /** The longest pause allowed within a response body (PROXY_TIMEOUT). */
  readonly timeout: number;
  /** Time allowed to open a connection (CONNECT_TIMEOUT). */
  readonly connectTimeout: number;
  /** How https:// backends are verified. */
  readonly tls?: BackendTls;
}

/**
 * The backends' connection pools: one per backend, created when it is attached (at start-up, or
 * when the backend is added) and closed when it is detached (removed and drained). Response-header
 * time is enforced by the proxy's own deadline, which starts once the request has been sent.
 */
export class Upstreams {
  readonly #keeper: IdleKeeper;
  readonly #maxIdle: number;
  readonly #client: Client.Options;

  constructor(options: UpstreamOptions) {
    this.#keeper = new IdleKeeper(options.maxIdle);
    this.#maxIdle = options.maxIdlePerBackend;
    this.#client = {
      pipelining: 1,
      keepAliveTimeout: options.idleTimeout,
      keepAliveMaxTimeout: options.idleTimeout,
      headersTimeout: 0,
      bodyTimeout: options.timeout,
      connect: { timeout: options.connectTimeout, ...tlsConnectOptions(options.tls) },
      // The proxy checks Content-Length itself where it matters; a mismatch is an error, not a warning.
      strictContentLength: true,
    };
  }

  /** A new PROXY_TIMEOUT for pauses within response bodies, on connections opened from now on. */
  setBodyTimeout(ms: number, backends: readonly Backend[]): void {
    this.#client.bodyTimeout = ms;
    for (const backend of backends) (backend.upstream as UpstreamPool | undefined)?.setBodyTimeout(ms);
  }

  /** Gives the backend its pool, unless it has one. */
  attach(backend: Backend): void {
    backend.upstream ??= new UpstreamPool(backend.origin, { maxIdle: this.#maxIdle, keeper: this.#keeper, client: this.#client });
  }

  /** Closes the backend's pool: waits for running requests, or, given a reason, cuts them with it. */
  async detach(backend: Backend, cut?: Error): Promise<void> {
    const upstream = backend.upstream;
    backend.upstream = undefined;
    if (upstream !== undefined) await (cut === undefined ? upstream.close() : upstream.destroy(cut));
  }
}
