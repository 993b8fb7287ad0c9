import type { IncomingHttpHeaders } from 'node:http';
import type { Backend, Snapshot } from '../pool/index.js';

/**
 * What a strategy may know about the request it places: enough for hash keys (client address,
 * a header, a cookie, the path) without tying strategies to node:http.
 */
export interface PickRequest {
  readonly method: string;
  /** The request target as received, path and query. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The client's IP address (IPv4-mapped IPv6 addresses unwrapped). */
  readonly clientIp: string;
  /** The raw v2 TLVs of the connection's PROXY protocol header, if any (`HASH_KEY=tlv:…`). */
  readonly proxyTlvs?: Buffer | undefined;
  /** The claims of the token a route's JWT filter verified, if any (`HASH_KEY=jwt:…`). */
  readonly jwtClaims?: Readonly<Record<string, unknown>> | undefined;
  /**
   * Adds a header to the response sent to the client (a sticky-session cookie, say). Optional:
   * simulations and benchmarks have no response.
   */
  addResponseHeader?(name: string, value: string): void;
}

/** Backends a pick must skip: those a request has already tried. A `Set<Backend>` is one. */
export interface Exclusion {
  has(backend: Backend): boolean;
}

/**
 * Picks one backend from the snapshot of available backends. `snapshot` is non-empty and
 * frozen; it is a new array whenever the pool changes, so a strategy that precomputes (a
 * weighted schedule, a hash table) may rebuild when it sees a different reference. `exclude`,
 * when given, lists backends that must not be picked (a retry skips the one that failed);
 * return undefined when every backend is excluded. `pick` must not allocate when nothing is
 * excluded: that is every request's path.
 */
export interface Strategy {
  /** The registry name: the same string in config, logs and metrics. */
  readonly name: string;
  pick(snapshot: Snapshot, request: PickRequest, exclude?: Exclusion): Backend | undefined;
}

/** Where a consistent-hash key comes from: `ip`, `path`, `header:<name>`, `cookie:<name>`, `tlv:<type>` or `jwt:<claim>`. */
export type HashKey = string;

/** Options every factory receives; each strategy reads what it needs. */
export interface StrategyOptions {
  /**
   * Where a rotating strategy starts. Worker processes start at different offsets so that the
   * rotation stays even across them.
   */
  readonly offset?: number;
  /** Uniform numbers in [0, 1); `Math.random` by default. */
  readonly random?: () => number;
  /** Milliseconds on a monotonic clock (peak-ewma); by default the time of the latest response. */
  readonly now?: () => number;
  /** consistent-hash: where the key comes from (default `ip`). */
  readonly hashKey?: HashKey;
  /** consistent-hash: bounded-load factor c (> 1), or 0 for plain Maglev. */
  readonly loadFactor?: number;
  /** consistent-hash: the strategy used when a request has no key (default `round-robin`). */
  readonly fallback?: string;
}

export type StrategyFactory = (options: StrategyOptions) => Strategy;

/**
 * Built-in strategies that pick without regard to weights: Maglev gives each backend an equal
 * share of its table. A weight given with one of them is reported.
 */
export const WEIGHT_BLIND_STRATEGIES: ReadonlySet<string> = new Set(['consistent-hash']);

/** The warning for weights given with a strategy that ignores them; undefined when they count. */
export function weightsIgnored(strategy: string): string | undefined {
  if (!WEIGHT_BLIND_STRATEGIES.has(strategy)) return undefined;
  return `weights do nothing with STRATEGY=${strategy} (it gives every backend an equal share of keys; requests without a key go to HASH_FALLBACK, which may weigh them): use round-robin, weighted-round-robin, least-connections, random, power-of-two-choices or peak-ewma to weigh backends`;
}
