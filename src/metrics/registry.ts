import { summarizeShadows } from '../balancer/index.js';
import client from 'prom-client';
import type { Backend, Pool } from '../pool/index.js';
import { refusalLabels } from './policy-refusals.js';
import { backendKey, DURATION_BUCKETS, GRPC_CODES, parseRowKey, ROW, STATUS_CLASSES, type ProcessCounts } from './tally.js';

/** What one scrape reads: every process's counts, summed (collect-on-scrape). */
export interface Counts {
  /** Request counters by row key (see `rowKey`: backend id, pool and route; '' for requests that reached no backend). */
  readonly rows: readonly (readonly [string, ArrayLike<number>])[];
  readonly process: ProcessCounts;
  /** Cluster workers' default metrics (`registry.getMetricsAsJSON()`), merged into the primary's. */
  readonly workers?: readonly client.MetricObjectWithValues<client.MetricValue<string>>[][];
}

export interface MetricsSource {
  /** The pool whose backends are reported (the primary's in a cluster), as the `default` pool when `pools` is not given. */
  readonly pool: Pool;
  /** Every pool by name, when there are several: their backends are reported with a `pool` label. */
  readonly pools?: () => ReadonlyMap<string, Pool>;
  /** Gathers fresh counts (from every worker in a cluster). */
  counts(): Promise<Counts>;
  /** Configuration reloads since start-up, by outcome. */
  readonly reloads: { readonly succeeded: number; readonly failed: number };
}

type Value = client.MetricValue<string> & { metricName?: string };

/**
 * prom-client's gauges named like counters (`promtool check metrics` refuses them); the same
 * numbers are in `nodejs_active_handles` and `nodejs_active_requests` by type.
 */
const NOT_CONVENTIONAL = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

type Kind = 'counter' | 'gauge' | 'histogram';

/** A metric whose values are computed when scraped: prom-client's registry formats it like its own. */
interface Collected {
  readonly name: string;
  readonly help: string;
  readonly type: Kind;
  readonly aggregator: client.Aggregator;
  get(): Promise<{ name: string; help: string; type: Kind; aggregator: client.Aggregator; values: Value[] }>;
}

/**
 * The Prometheus metrics (text format 0.0.4): the balancer's own, computed from the request
 * tally, the pool and the process counters when scraped, and prom-client's process and Node.js
 * default metrics (summed over the workers in a cluster, as prom-client's cluster mode does).
 * Nothing here runs per request.
 */
export class Metrics {
  readonly #source: MetricsSource;
  readonly #defaults = new client.Registry();
  readonly #own = new client.Registry();
  #counts: Counts | undefined;

  constructor(source: MetricsSource) {
    this.#source = source;
    client.collectDefaultMetrics({ register: this.#defaults });
    for (const name of NOT_CONVENTIONAL) this.#defaults.removeSingleMetric(name);
    for (const metric of this.#metrics()) this.#own.registerMetric(metric as unknown as client.Metric);
  }

  get contentType(): string {
    return this.#own.contentType;
  }

  /** The whole exposition, as of now. */
  async text(): Promise<string> {
    const counts = await this.#source.counts();
    this.#counts = counts;
    let defaults: string;
    if (counts.workers === undefined || counts.workers.length === 0) {
      defaults = await this.#defaults.metrics();
    } else {
      const workers = counts.workers.map((metrics) => metrics.filter((m) => !NOT_CONVENTIONAL.includes(m.name)));
      const merged = client.AggregatorRegistry.aggregate([await this.#defaults.getMetricsAsJSON(), ...workers] as never);
      defaults = await merged.metrics();
    }
    return `${await this.#own.metrics()}\n${defaults}`;
  }

  /** This process's default metrics as JSON, for a cluster primary to merge. */
  defaultsJson(): Promise<client.MetricObjectWithValues<client.MetricValue<string>>[]> {
    return this.#defaults.getMetricsAsJSON();
  }

  *#metrics(): Iterable<Collected> {
    const source = this.#source;
    const pools = (): Iterable<[string, Pool]> => source.pools?.() ?? [['default', source.pool]];
    /** One value per backend of every pool, labelled with its id and pool. */
    const perBackend = (value: (b: Backend, labels: Record<string, string>) => Value[] | Value): () => Value[] => () => {
      const values: Value[] = [];
      for (const [name, pool] of pools()) {
        for (const b of pool.backends) {
          const v = value(b, { backend: b.id, pool: name });
          if (Array.isArray(v)) values.push(...v);
          else values.push(v);
        }
      }
      return values;
    };
    const rows = (): Iterable<readonly [string, ArrayLike<number>]> => this.#counts?.rows ?? [];
    const proc = (): ProcessCounts => this.#counts?.process ?? { retries: 0, queued: 0, connections: 0, logLinesDropped: 0 };
    // Rows are keyed by backend, pool and route: all from config or the pools, so the label sets stay bounded.
    const labels = (key: string): { backend: string; pool: string; route: string } => {
      const { backend, pool, route } = parseRowKey(key);
      return { backend: backend === '' ? 'none' : backend, pool, route };
    };

    yield collected('lb_requests_total', 'Requests answered, by backend (none: no backend answered), pool, route (empty: none) and status class.', 'counter', () => {
      const values: Value[] = [];
      for (const [key, row] of rows()) {
        const { backend, pool, route } = labels(key);
        for (let c = 0; c < STATUS_CLASSES.length; c++) {
          if (row[c]! > 0) values.push({ labels: { backend, code: STATUS_CLASSES[c]!, pool, route }, value: row[c]! });
        }
      }
      return values;
    });
    yield collected('lb_grpc_responses_total', 'gRPC calls answered, by backend (none: the balancer answered), pool, route and grpc-status (0-16; unknown: any other value): the backend\'s, in the response head or its trailers, or the balancer\'s own.', 'counter', () => {
      const values: Value[] = [];
      for (const [key, row] of rows()) {
        const { backend, pool, route } = labels(key);
        for (let c = 0; c < GRPC_CODES.length; c++) {
          const n = row[ROW.grpc + c] ?? 0;
          if (n > 0) values.push({ labels: { backend, code: GRPC_CODES[c]!, pool, route }, value: n });
        }
      }
      return values;
    });
    yield collected('lb_request_duration_seconds', 'Time from the request head to the end of the response, by backend, pool and route.', 'histogram', () => {
      const values: Value[] = [];
      for (const [key, row] of rows()) {
        const { backend, pool, route } = labels(key);
        let cumulative = 0;
        for (let i = 0; i <= DURATION_BUCKETS.length; i++) {
          cumulative += row[ROW.buckets + i]!;
          const le = i < DURATION_BUCKETS.length ? String(DURATION_BUCKETS[i]) : '+Inf';
          values.push({ metricName: 'lb_request_duration_seconds_bucket', labels: { backend, pool, route, le }, value: cumulative });
        }
        values.push({ metricName: 'lb_request_duration_seconds_sum', labels: { backend, pool, route }, value: row[ROW.sum]! });
        values.push({ metricName: 'lb_request_duration_seconds_count', labels: { backend, pool, route }, value: cumulative });
      }
      return values;
    });
    yield collected('lb_backend_up', 'Whether the backend passes its active health checks (1) or not (0).', 'gauge',
      perBackend((b, l) => ({ labels: l, value: b.healthy ? 1 : 0 })));
    yield collected('lb_backend_available', 'Whether the backend takes new requests: enabled, healthy and not ejected (1) or not (0).', 'gauge',
      perBackend((b, l) => ({ labels: l, value: b.state === 'up' ? 1 : 0 })));
    yield collected('lb_backend_in_flight', 'Requests being proxied to the backend now, open tunnels included.', 'gauge',
      perBackend((b, l) => ({ labels: l, value: Math.max(0, b.inFlight) })));
    yield collected('lb_upstream_connections', 'Connections to the backend now, by state: busy (carrying a request or a tunnel) or idle (kept alive).', 'gauge', () => {
      const connections = proc().backendConnections ?? {};
      return perBackend((b, l) => {
        const [busy, idle] = connections[backendKey(l.pool!, b.id)] ?? [0, 0];
        return [{ labels: { ...l, state: 'busy' }, value: busy }, { labels: { ...l, state: 'idle' }, value: idle }];
      })();
    });
    yield collected('lb_backend_weight', 'The backend\'s configured weight.', 'gauge',
      perBackend((b, l) => ({ labels: l, value: b.weight })));
    yield collected('lb_ejections_total', 'Times outlier detection ejected the backend (summed over workers).', 'counter',
      perBackend((b, l) => ({ labels: l, value: b.ejections })));
    yield collected('lb_health_checks_total', 'Active health checks run, by backend, pool and result.', 'counter', perBackend((b, l) => [
      { labels: { ...l, result: 'passed' }, value: b.checksPassed },
      { labels: { ...l, result: 'failed' }, value: b.checksFailed },
    ]));
    yield collected('lb_policy_refusals_total', 'Requests refused by an edge policy, by policy (access-list, rate-limit, basic-auth, forward-auth, jwt, …) and route (empty: none).', 'counter', () =>
      Object.entries(proc().policyRefusals ?? {}).map(([key, value]) => ({ labels: refusalLabels(key), value })));
    yield collected('lb_retries_total', 'Requests tried again on another backend.', 'counter', () => [{ labels: {}, value: proc().retries }]);
    yield collected('lb_queue_length', 'Requests waiting for a backend with room (BACKEND_MAX_REQUESTS).', 'gauge', () => [{ labels: {}, value: proc().queued }]);
    yield collected('lb_client_connections', 'Open client connections.', 'gauge', () => [{ labels: {}, value: proc().connections }]);
    yield collected('lb_config_reloads_total', 'Configuration reloads, by result.', 'counter', () => [
      { labels: { result: 'success' }, value: this.#source.reloads.succeeded },
      { labels: { result: 'failure' }, value: this.#source.reloads.failed },
    ]);
    yield collected('lb_mirror_requests_total', 'Copies of requests for RequestMirror filters, by outcome: sent, answered, failed, or skipped (busy: too many in flight; no_backend; body: too large, chunked or never whole).', 'counter',
      () => Object.entries(proc().mirrored ?? {}).map(([outcome, value]) => ({ labels: { outcome }, value })));
    yield collected('lb_rate_limit_shadow_total', 'Requests a rate limit in shadow mode (RATE_LIMIT_MODE=shadow) let through that it would have refused, by route.', 'counter',
      () => Object.entries(proc().rateLimitShadow ?? {}).map(([route, value]) => ({ labels: { route }, value })));
    yield collected('lb_log_lines_dropped_total', 'Log lines dropped because the log destination was not accepting writes.', 'counter',
      () => [{ labels: {}, value: proc().logLinesDropped }]);
    yield collected('lb_trace_spans_dropped_total', 'Trace spans dropped because the export queue was full (OTEL_BSP_MAX_QUEUE_SIZE) or an export failed (the collector slow, down or refusing).', 'counter',
      () => [{ labels: {}, value: proc().traceSpansDropped ?? 0 }]);
    // SHADOW_STRATEGIES: nothing is exposed while it is off.
    const shadow = () => { const image = proc().shadow; return image === undefined ? undefined : summarizeShadows(image); };
    yield collected('lb_shadow_decisions_total', 'Requests a shadow strategy was asked to place (SHADOW_STRATEGIES).', 'counter',
      () => shadow()?.shadows.map((s) => ({ labels: { strategy: s.strategy }, value: s.decisions })) ?? []);
    yield collected('lb_shadow_agreement_ratio', 'Share of requests on which a shadow strategy picked what the live one did.', 'gauge',
      () => shadow()?.shadows.map((s) => ({ labels: { strategy: s.strategy }, value: s.agreement })) ?? []);
    const predicted = (pick: (r: { p50Ms: number; p99Ms: number }) => number) => (): Value[] => {
      const summary = shadow();
      if (summary === undefined) return [];
      return [{ role: 'live', ...summary.live }, ...summary.shadows.map((s) => ({ role: 'shadow', ...s }))]
        .map((r) => ({ labels: { strategy: r.strategy, role: r.role }, value: pick(r) / 1000 }));
    };
    yield collected('lb_shadow_predicted_latency_p50_seconds', 'Median latency predicted for the choices (the chosen backend\'s latency EWMA then), of the live strategy and of each shadow.', 'gauge', predicted((r) => r.p50Ms));
    yield collected('lb_shadow_predicted_latency_p99_seconds', '99th percentile of the latency predicted for the choices, of the live strategy and of each shadow.', 'gauge', predicted((r) => r.p99Ms));
  }
}

function collected(name: string, help: string, type: Kind, values: () => Value[]): Collected {
  return {
    name, help, type, aggregator: 'sum',
    get: () => Promise.resolve({ name, help, type, aggregator: 'sum', values: values() }),
  };
}
