import { summarizeShadows } from '../balancer/index.js';
import client from 'prom-client';
import type { Backend, Pool } from '../pool/index.js';
import { refusalLabels } from './policy-refusals.js';
import { backendKey, DURATION_BUCKETS, GRPC_CODES, parseRowKey, ROW, STATUS_CLASSES, type Exemplar, type ProcessCounts } from './tally.js';

/** What one scrape reads: every process's counts, summed (collect-on-scrape). */
export interface Counts {
  /** Request counters by row key (see `rowKey`: backend id, pool and route; '' for requests that reached no backend). */
  readonly rows: readonly (readonly [string, ArrayLike<number>])[];
  readonly process: ProcessCounts;
  /** Cluster workers' default metrics (`registry.getMetricsAsJSON()`), merged into the primary's. */
  readonly workers?: readonly client.MetricObjectWithValues<client.MetricValue<string>>[][];
  /** Traced requests kept beside `lb_request_duration_seconds` buckets, by row key (see `Tally#exemplars`). */
  readonly exemplars?: ReadonlyMap<string, readonly (Exemplar | undefined)[]>;
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

type Value = client.MetricValue<string> & {
  metricName?: string;
  /** Written in the OpenMetrics exposition only. */
  exemplar?: { labelSet: Record<string, string>; value: number; timestamp: number };
};

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
  /**
   * The same metrics for the OpenMetrics exposition: prom-client renames a registry's counters
   * in place when it writes OpenMetrics, so one registry cannot serve both formats.
   */
  readonly #openOwn = openMetricsRegistry();
  #counts: Counts | undefined;

  constructor(source: MetricsSource) {
    this.#source = source;
    client.collectDefaultMetrics({ register: this.#defaults });
    for (const name of NOT_CONVENTIONAL) this.#defaults.removeSingleMetric(name);
    for (const metric of this.#metrics(false)) this.#own.registerMetric(metric as unknown as client.Metric);
    for (const metric of this.#metrics(true)) this.#openOwn.registerMetric(metric as unknown as client.Metric);
  }

  /** The Prometheus text format's (0.0.4). */
  get contentType(): string {
    return this.#own.contentType;
  }

  /** The content type of `text(openMetrics)`. */
  contentTypeOf(openMetrics: boolean): string {
    return openMetrics ? this.#openOwn.contentType : this.#own.contentType;
  }

  /**
   * The whole exposition, as of now: Prometheus text format 0.0.4, or with `openMetrics`
   * OpenMetrics 1.0, whose `lb_request_duration_seconds` buckets carry exemplars (the trace id
   * of the bucket's latest traced request).
   */
  async text(openMetrics = false): Promise<string> {
    const counts = await this.#source.counts();
    this.#counts = counts;
    const merged = counts.workers === undefined || counts.workers.length === 0 ? undefined
      : client.AggregatorRegistry.aggregate([await this.#defaults.getMetricsAsJSON(),
        ...counts.workers.map((metrics) => metrics.filter((m) => !NOT_CONVENTIONAL.includes(m.name)))] as never);
    if (openMetrics) {
      const own = (await this.#openOwn.metrics()).replace(/# EOF\n$/, '');
      return `${own}${await openMetricsText(await (merged ?? this.#defaults).getMetricsAsJSON())}`;
    }
    return `${await this.#own.metrics()}\n${await (merged ?? this.#defaults).metrics()}`;
  }

  /** This process's default metrics as JSON, for a cluster primary to merge. */
  defaultsJson(): Promise<client.MetricObjectWithValues<client.MetricValue<string>>[]> {
    return this.#defaults.getMetricsAsJSON();
  }

  *#metrics(openMetrics: boolean): Iterable<Collected> {
    const source = this.#source;
    const collected = (name: string, help: string, type: Kind, values: () => Value[]): Collected => collect(name, help, type, values, openMetrics);
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
        const exemplars = openMetrics ? this.#counts?.exemplars?.get(key) : undefined;
        let cumulative = 0;
        for (let i = 0; i <= DURATION_BUCKETS.length; i++) {
          cumulative += row[ROW.buckets + i]!;
          const le = i < DURATION_BUCKETS.length ? String(DURATION_BUCKETS[i]) : '+Inf';
          const value: Value = { metricName: 'lb_request_duration_seconds_bucket', labels: { backend, pool, route, le }, value: cumulative };
          const e = exemplars?.[i];
          if (e !== undefined) value.exemplar = { labelSet: { trace_id: e.traceId }, value: e.value, timestamp: e.timestamp };
          values.push(value);
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
    yield collected('lb_hook_errors_total', 'Hook calls that threw, rejected or took longer than HOOK_TIMEOUT, by hook and phase.', 'counter', () =>
      Object.entries(proc().hookErrors ?? {}).map(([key, value]) => ({ labels: { hook: key.slice(0, key.indexOf('\n')), phase: key.slice(key.indexOf('\n') + 1) }, value })));
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

/** OpenMetrics names a counter's family without `_total`; its samples get it back when written. */
function collect(name: string, help: string, type: Kind, values: () => Value[], openMetrics: boolean): Collected {
  const family = openMetrics && type === 'counter' ? name.replace(/_total$/, '') : name;
  return {
    name: family, help, type, aggregator: 'sum',
    get: () => Promise.resolve({ name: family, help, type, aggregator: 'sum', values: values() }),
  };
}

function openMetricsRegistry(): client.Registry<client.OpenMetricsContentType> {
  const registry = new client.Registry<client.OpenMetricsContentType>();
  registry.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
  return registry;
}

/**
 * prom-client's default metrics in OpenMetrics: written from their JSON by a registry made for
 * the one scrape, with counters renamed as `collect` does (prom-client's own renaming does not
 * reach an aggregated metric, which would come out as `…_total_total`).
 */
function openMetricsText(metrics: client.MetricObjectWithValues<client.MetricValue<string>>[]): Promise<string> {
  const registry = openMetricsRegistry();
  for (const m of metrics) {
    // prom-client declares `type` a numeric enum; at run time it is the type's name.
    const name = (m.type as unknown as string) === 'counter' ? m.name.replace(/_total$/, '') : m.name;
    const metric = { ...m, name, get: () => Promise.resolve({ ...m, name }) };
    registry.registerMetric(metric as unknown as client.Metric);
  }
  return registry.metrics();
}
