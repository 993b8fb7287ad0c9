import type { SecureContext } from 'node:tls';
import type { Dispatcher } from 'undici';

/** How connections to https:// backends are verified; shared by the proxy, tunnels and health checks. */
export interface BackendTls {
  /** Trusted CAs, built once at start-up (a per-connection `ca` list would be parsed on every handshake). */
  readonly secureContext: SecureContext | undefined;
  /** SNI name sent and verified; by default the backend URL's host. */
  readonly servername: string | undefined;
  readonly rejectUnauthorized: boolean;
}

/** The TLS options for `tls.connect` (via undici or node:https) that a BackendTls stands for. */
export function tlsConnectOptions(tls: BackendTls | undefined): { secureContext?: SecureContext; servername?: string; rejectUnauthorized?: boolean } {
  if (tls === undefined) return {};
  return {
    ...(tls.secureContext === undefined ? {} : { secureContext: tls.secureContext }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    rejectUnauthorized: tls.rejectUnauthorized,
  };
}

/** A backend's upstream connections right now. */
export interface UpstreamStats {
  /** Connections open or opening. */
  readonly open: number;
  /** Requests using one of them. */
  readonly busy: number;
  /** Kept alive, waiting for the next request. */
  readonly idle: number;
}

/**
 * How the proxy reaches a backend: connections taken for one request each and handed back when
 * it ends. The pool knows only this much of it.
 */
export interface Upstream {
  acquire(): Dispatcher;
  release(connection: Dispatcher): void;
  readonly stats: UpstreamStats;
  /** Closes idle connections now and the others when their request ends. */
  close(): Promise<void>;
  /** Closes every connection now. */
  destroy(): Promise<void>;
}

/** τ of the latency EWMA: 10 s, Finagle's and Linkerd's default. */
export const LATENCY_DECAY_MS = 10_000;

/**
 * The time of the latest latency sample of any backend: a clock that strategies can read
 * without calling `performance.now()` (which allocates in Node 20) on every pick.
 */
export const latencyClock = new Float64Array(1);

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
  /** Peak-EWMA of time to response headers, in ms (0 until the first response). */
  latency = 0;
  /** When `latency` was last updated, in ms on the caller's monotonic clock. */
  latencyStamp = 0;
  /** Its keep-alive connections, attached by the proxy. */
  upstream: Upstream | undefined = undefined;

  constructor(url: string, weight = 1, index = 0) {
    const parsed = new URL(url);
    this.url = url;
    this.origin = parsed.origin;
    this.pathPrefix = parsed.pathname === '/' ? '' : parsed.pathname.replace(/\/+$/, '');
    this.weight = weight;
    this.index = index;
  }

  /**
   * Folds one response time into the peak-EWMA latency (Finagle's PeakEwma): a slower sample
   * replaces the average at once; a faster one is blended in with weight 1 - e^(-Δt/τ).
   */
  observeLatency(ms: number, now: number): void {
    const prev = this.latency;
    if (ms > prev || prev === 0) {
      this.latency = ms;
    } else {
      const w = Math.exp(-Math.max(0, now - this.latencyStamp) / LATENCY_DECAY_MS);
      this.latency = prev * w + ms * (1 - w);
    }
    this.latencyStamp = now;
    if (now > latencyClock[0]!) latencyClock[0] = now;
  }

  /** The latency estimate decayed towards zero for the time since the last sample, as Finagle does on read. */
  latencyAt(now: number): number {
    if (this.latency === 0) return 0;
    return this.latency * Math.exp(-Math.max(0, now - this.latencyStamp) / LATENCY_DECAY_MS);
  }

  toJSON(): object {
    return { url: this.url, weight: this.weight, healthy: this.healthy, inFlight: this.inFlight, requests: this.requests };
  }
}
