import type { ShadowImage } from '../balancer/index.js';
import type { RequestContext } from '../context/index.js';
import type { Middleware } from '../middleware/index.js';
import type { Backend } from '../pool/index.js';

/**
 * Upper bounds of the request duration histogram, in seconds (Prometheus's `le`): from 1 ms to
 * 30 s, three per decade, so p50 and p99 of anything from a cache hit to a slow report are
 * within a bucket of the truth.
 */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);

/** Status classes counted: 1xx to 5xx. */
export const STATUS_CLASSES: readonly string[] = Object.freeze(['1xx', '2xx', '3xx', '4xx', '5xx']);

/**
 * Layout of one tally row (a Float64Array): responses per status class, then histogram bucket
 * counts (not cumulative; the last is +Inf), then the sum of durations in seconds, then the
 * gateway failures of tries on the backend (retried ones included, which no status shows).
 */
export const ROW = {
  status: 0,
  buckets: STATUS_CLASSES.length,
  sum: STATUS_CLASSES.length + DURATION_BUCKETS.length + 1,
  failures: STATUS_CLASSES.length + DURATION_BUCKETS.length + 2,
  length: STATUS_CLASSES.length + DURATION_BUCKETS.length + 3,
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
  /** Shadow strategies' tallies (SHADOW_STRATEGIES), when on. */
  shadow?: ShadowImage | undefined;
  /** Connections to each backend now, by backend id: [busy, idle]. */
  backendConnections?: Record<string, [number, number]>;
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

/** One process's counts, as a worker sends them: rows by backend id ('' for no backend). */
export interface TallyImage {
  readonly rows: [string, number[]][];
  readonly process: ProcessCounts;
}

/**
 * The request counters behind the metrics, kept where they are cheapest to update: one
 * Float64Array per backend (plus one for requests no backend answered), a few increments per
 * request and no label lookup. The Prometheus registry reads them when scraped.
 */
export class Tally {
  readonly #rows = new Map<string, Float64Array>();

  /** The row of a backend id ('' for requests that reached no backend), made on first use. */
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
  rowOf(backend: Backend): Float64Array {
    return backend.metricsRow ?? backend.bindMetricsRow(this.row(backend.id));
  }

  /** Counts a try on `backend` that failed at the gateway (retried ones included, which no status shows). */
  gatewayFailure(backend: Backend): void {
    this.rowOf(backend)[ROW.failures]!++;
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
 * backend and kept on it), or the row for requests that reached no backend.
 */
export function countRequests(tally: Tally): Middleware {
  const none = tally.row('');
  return {
    name: 'metrics',
    onEnd(ctx: RequestContext) {
      const backend = ctx.backend;
      const row = backend === undefined ? none : tally.rowOf(backend);
      tally.record(row, ctx.status, ctx.duration / 1000);
    },
  };
}
