import type { ShadowImage } from '../balancer/index.js';
import type { RequestContext, RouteCache } from '../context/index.js';
import type { Middleware } from '../middleware/index.js';
import type { Backend } from '../pool/index.js';
import { DEFAULT_POOL } from '../config/pools.js';

/**
 * Upper bounds of the request duration histogram, in seconds (Prometheus's `le`): from 1 ms to
 * 30 s, three per decade, so p50 and p99 of anything from a cache hit to a slow report are
 * within a bucket of the truth.
 */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);

/** Status classes counted: 1xx to 5xx. */
export const STATUS_CLASSES: readonly string[] = Object.freeze(['1xx', '2xx', '3xx', '4xx', '5xx']);

/** gRPC status codes counted: 0 (OK) to 16 (UNAUTHENTICATED), then `unknown` for any other value: a bounded label. */
export const GRPC_CODES: readonly string[] = Object.freeze([...Array.from({ length: 17 }, (_, i) => String(i)), 'unknown']);

/**
 * Layout of one tally row (a Float64Array): responses per status class, then histogram bucket
 * counts (not cumulative; the last is +Inf), then the sum of durations in seconds, then the
 * gateway failures of tries on the backend (retried ones included, which no status shows), then
 * gRPC calls per grpc-status (GRPC_CODES).
 */
export const ROW = {
  status: 0,
  buckets: STATUS_CLASSES.length,
  sum: STATUS_CLASSES.length + DURATION_BUCKETS.length + 1,
  failures: STATUS_CLASSES.length + DURATION_BUCKETS.length + 2,
  grpc: STATUS_CLASSES.length + DURATION_BUCKETS.length + 3,
  length: STATUS_CLASSES.length + DURATION_BUCKETS.length + 3 + GRPC_CODES.length,
} as const;

/** What a process counts of itself besides its rows: gauges read when asked, counters kept here. */
export interface ProcessCounts {
  /** Retries made since start-up. */
  retries: number;
  /** Requests waiting in the queue now. */
  queued: number;
  /** Open client connections now. */
  connections: number;
  /** Log lines dropped since start-up. */
  logLinesDropped: number;
  /** Trace spans dropped since start-up (queue full, export failed), when tracing is on. */
  traceSpansDropped?: number | undefined;
  /** Shadow strategies' tallies (SHADOW_STRATEGIES), when on. */
  shadow?: ShadowImage | undefined;
  /** RequestMirror copies by outcome (sent, answered, failed, skipped_…), when a route mirrors. */
  mirrored?: Record<string, number> | undefined;
  /** Requests a shadow-mode rate limit would have refused, by route, when one is configured. */
  rateLimitShadow?: Record<string, number> | undefined;
  /** Connections to each backend now, by backend id: [busy, idle]. */
  backendConnections?: Record<string, [number, number]>;
  /** Requests refused by an edge policy since start-up, by `policy\nroute` (see PolicyRefusals), when any was. */
  policyRefusals?: Record<string, number> | undefined;
  /** Hooks that failed or timed out since start-up, by `hook\nphase`, when any did. */
  hookErrors?: Record<string, number> | undefined;
}

/** Adds `from`'s connection counts into `into` (a cluster sums its workers'). */
export function addConnections(into: Record<string, [number, number]>, from: Record<string, [number, number]> | undefined): void {
  if (from === undefined) return;
  for (const id of Object.keys(from)) {
    const sum = (into[id] ??= [0, 0]);
    sum[0] += from[id]![0];
    sum[1] += from[id]![1];
  }
}

/**
 * The key of a backend in one pool: its id in the default pool (as before pools existed), else
 * `id<TAB>pool`, since ids are unique within a pool only. Connection counts are kept by it.
 */
export function backendKey(pool: string, id: string): string {
  return pool === DEFAULT_POOL ? id : `${id}\t${pool}`;
}

/**
 * The key of a tally row: the backend ('' for none) in its pool, and the route that sent the
 * request there ('' for none). Without routes and pools it is the backend id alone, so a
 * single-pool balancer (and a cluster's primary) reads the rows it always did.
 */
export function rowKey(route: string, pool: string, id: string): string {
  return route === '' ? backendKey(pool, id) : `${id}\t${pool}\t${route}`;
}

/** A row key's parts. */
export function parseRowKey(key: string): { readonly backend: string; readonly pool: string; readonly route: string } {
  const tab = key.indexOf('\t');
  if (tab < 0) return { backend: key, pool: DEFAULT_POOL, route: '' };
  const [backend = '', pool = DEFAULT_POOL, route = ''] = key.split('\t');
  return { backend, pool, route };
}

/** The backend id of a row key when the row is of `pool` (any route), else undefined. */
export function backendOf(key: string, pool: string): string | undefined {
  const parts = parseRowKey(key);
  return parts.pool === pool ? parts.backend : undefined;
}

/**
 * Rows summed by backend id for `pool` (every route's together); rows of other pools are kept
 * apart under their key after a tab, which no backend id of `pool` can equal.
 */
export function foldRows(rows: Iterable<readonly [string, ArrayLike<number>]>, pool: string): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const [key, row] of rows) {
    const id = backendOf(key, pool) ?? `\t${key}`;
    let into = out.get(id);
    if (into === undefined) out.set(id, into = new Float64Array(ROW.length));
    for (let i = 0; i < ROW.length; i++) into[i]! += row[i] ?? 0;
  }
  return out;
}

/**
 * A traced request's duration kept beside its histogram bucket (an OpenMetrics exemplar): the
 * trace id, the value observed in seconds, and when, in seconds since the epoch.
 */
export interface Exemplar {
  traceId: string;
  value: number;
  timestamp: number;
}

/** Exemplars as a worker sends them: by row key, a bucket without one is null (JSON has no undefined). */
export type ExemplarImage = [string, (Exemplar | null)[]][];

/** A tally's exemplars as a worker sends them. */
export function exemplarImage(exemplars: ReadonlyMap<string, readonly (Exemplar | undefined)[]>): ExemplarImage {
  return [...exemplars].map(([key, list]) => [key, list.map((e) => e ?? null)]);
}

/** Adds a process's exemplars into `into`, keeping the newer of two in the same bucket (a cluster's primary merges its workers'). */
export function mergeExemplars(into: Map<string, (Exemplar | undefined)[]>, from: ExemplarImage | undefined): void {
  if (from === undefined) return;
  for (const [key, list] of from) {
    let kept = into.get(key);
    if (kept === undefined) into.set(key, kept = new Array<Exemplar | undefined>(list.length).fill(undefined));
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      const old = kept[i];
      if (e != null && (old === undefined || old.timestamp < e.timestamp)) kept[i] = e;
    }
  }
}

/** One process's counts, as a worker sends them: rows by row key (see `rowKey`). */
export interface TallyImage {
  readonly rows: [string, number[]][];
  readonly process: ProcessCounts;
}

/** Backends a route's own cache holds rows of (see RouteCache). */
const ROUTE_CACHE_ENTRIES = 8;

/**
 * The request counters behind the metrics, kept where they are cheapest to update: one
 * Float64Array per backend (plus one for requests no backend answered), a few increments per
 * request and no label lookup. The Prometheus registry reads them when scraped.
 */
export class Tally {
  readonly #rows = new Map<string, Float64Array>();
  /** Rows of routed requests, by route, then backend (or pool name, for no backend): two lookups, no key built. */
  readonly #routed = new Map<string, { readonly backends: WeakMap<Backend, Float64Array>; readonly none: Map<string, Float64Array> }>();
  /** Per row, the latest traced request of each bucket (made on a row's first traced request). */
  readonly #exemplars = new WeakMap<Float64Array, (Exemplar | undefined)[]>();

  /** The row of a row key (see `rowKey`; a backend id, '' for requests that reached no backend), made on first use. */
  row(id: string): Float64Array {
    let row = this.#rows.get(id);
    if (row === undefined) {
      row = new Float64Array(ROW.length);
      this.#rows.set(id, row);
    }
    return row;
  }

  /**
   * A backend's row: bound to the backend on first use, so later requests find it without a
   * lookup. Rows are kept by id, so a backend removed and added again counts on.
   */
  rowOf(backend: Backend, pool: string = DEFAULT_POOL): Float64Array {
    return backend.metricsRow ?? backend.bindMetricsRow(this.row(backendKey(pool, backend.id)));
  }

  /** The row of a request `route` sent to `pool` (and `backend` there, when it reached one). */
  routeRow(route: string, pool: string, backend: Backend | undefined, cache?: RouteCache): Float64Array {
    // The route's own cache first: no lookup by name (see RouteCache).
    if (cache !== undefined && backend !== undefined && cache.name === route) {
      const cached = cache.rows;
      if (cache.rowsOwner !== this) {
        cache.rowsOwner = this;
        cached.length = 0;
      }
      for (let i = 0; i < cached.length; i += 2) if (cached[i] === backend) return cached[i + 1] as Float64Array;
      const row = this.routeRow(route, pool, backend);
      // A few backends' worth: a pool that changes starts the cache over.
      if (cached.length >= ROUTE_CACHE_ENTRIES * 2) cached.length = 0;
      cached.push(backend, row);
      return row;
    }
    let rows = this.#routed.get(route);
    if (rows === undefined) this.#routed.set(route, rows = { backends: new WeakMap(), none: new Map() });
    let row = backend === undefined ? rows.none.get(pool) : rows.backends.get(backend);
    if (row === undefined) {
      row = this.row(rowKey(route, pool, backend?.id ?? ''));
      if (backend === undefined) rows.none.set(pool, row);
      else rows.backends.set(backend, row);
    }
    return row;
  }

  /**
   * Counts a try on `backend` (of `pool`) that failed at the gateway, retried ones included,
   * which no status shows; in the backend's route-less row, as the failure knows no route.
   */
  gatewayFailure(backend: Backend, pool: string = DEFAULT_POOL): void {
    this.rowOf(backend, pool)[ROW.failures]!++;
  }

  /** Counts one ended request: its status class and its duration in seconds. */
  record(row: Float64Array, status: number, seconds: number): void {
    const cls = (status / 100) | 0;
    if (cls >= 1 && cls <= 5) row[cls - 1]!++;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    row[ROW.buckets + i]!++;
    row[ROW.sum]! += seconds;
  }

  /**
   * Keeps a traced request as its bucket's exemplar, replacing the one before: the newest of
   * each bucket is what a scrape shows. Called only for requests with a trace id, so untraced
   * traffic pays nothing; a bucket's exemplar object is reused.
   */
  exemplar(row: Float64Array, seconds: number, traceId: string): void {
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    let kept = this.#exemplars.get(row);
    if (kept === undefined) this.#exemplars.set(row, kept = new Array<Exemplar | undefined>(DURATION_BUCKETS.length + 1).fill(undefined));
    const timestamp = Date.now() / 1000;
    const e = kept[i];
    if (e === undefined) kept[i] = { traceId, value: seconds, timestamp };
    else {
      e.traceId = traceId;
      e.value = seconds;
      e.timestamp = timestamp;
    }
  }

  /** The exemplars of every row that has any, by row key: bucket by bucket (undefined: none yet). */
  exemplars(): Map<string, readonly (Exemplar | undefined)[]> {
    const out = new Map<string, readonly (Exemplar | undefined)[]>();
    for (const [key, row] of this.#rows) {
      const kept = this.#exemplars.get(row);
      if (kept !== undefined) out.set(key, kept.map((e) => (e === undefined ? undefined : { ...e })));
    }
    return out;
  }

  entries(): IterableIterator<[string, Float64Array]> {
    return this.#rows.entries();
  }

  /** Adds another tally's rows (a worker's, or a dead worker's last) into this one. */
  add(rows: Iterable<readonly [string, ArrayLike<number>]>): void {
    for (const [id, values] of rows) {
      const row = this.row(id);
      for (let i = 0; i < ROW.length; i++) row[i]! += values[i] ?? 0;
    }
  }

  image(): [string, number[]][] {
    return [...this.#rows].map(([id, row]) => [id, Array.from(row)]);
  }
}

/**
 * The middleware that counts each request as it ends, into its backend's row (found once per
 * backend and kept on it), or the row for requests that reached no backend; a routed request
 * into its route's row of the backend (labels: route, pool, backend, all from config or the pool).
 */
export function countRequests(tally: Tally): Middleware {
  const none = tally.row('');
  return {
    name: 'metrics',
    onEnd(ctx: RequestContext) {
      const backend = ctx.backend;
      const row = ctx.route !== '' ? tally.routeRow(ctx.route, ctx.pool, backend, ctx.routeCache)
        : backend !== undefined ? tally.rowOf(backend, ctx.pool)
          : ctx.pool === DEFAULT_POOL ? none : tally.routeRow('', ctx.pool, undefined);
      tally.record(row, ctx.status, ctx.duration / 1000);
      // Only a request whose span was recorded has a trace id; the rest skip this.
      if (ctx.traceId !== undefined) tally.exemplar(row, ctx.duration / 1000, ctx.traceId);
      // A gRPC call's status, the backend's or the balancer's (0-16; 17: any other value).
      const grpc = ctx.grpcStatus;
      if (grpc >= 0 && grpc < GRPC_CODES.length) row[ROW.grpc + grpc]!++;
    },
  };
}
