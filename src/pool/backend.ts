import type { Dispatcher } from 'undici';

/**
 * One upstream server and its live state. The pool owns health; the proxy keeps the load
 * counters that load-aware strategies read.
 */
export class Backend {
  /** The configured base URL: origin plus optional path prefix, e.g. `http://10.0.0.1:8080/api`. */
  readonly url: string;
  /** `http://host:port`: what the upstream connection pool connects to. */
  readonly origin: string;
  /** Prepended to each request path; empty when the URL has no path. */
  readonly pathPrefix: string;
  readonly weight: number;
  /** Position in the pool's configured order; stable for the backend's life. */
  readonly index: number;

  /** Set by the pool on a health flip; read through `Pool.healthy`, not directly, on the hot path. */
  healthy = false;
  /** False until the first health verdict. */
  checked = false;
  /** Why the last health check failed, or undefined while healthy. */
  healthReason: string | undefined = undefined;
  /** Requests currently being proxied to this backend. */
  inFlight = 0;
  /** Requests proxied to this backend since start-up. */
  requests = 0;
  /** The upstream dispatcher (one keep-alive pool per backend), attached by the proxy. */
  dispatcher: Dispatcher | undefined = undefined;

  constructor(url: string, weight = 1, index = 0) {
    const parsed = new URL(url);
    this.url = url;
    this.origin = parsed.origin;
    this.pathPrefix = parsed.pathname === '/' ? '' : parsed.pathname.replace(/\/+$/, '');
    this.weight = weight;
    this.index = index;
  }

  toJSON(): object {
    return { url: this.url, weight: this.weight, healthy: this.healthy, inFlight: this.inFlight, requests: this.requests };
  }
}
