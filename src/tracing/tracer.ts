import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { RequestContext } from '../context/index.js';
import type { Middleware } from '../middleware/chain.js';
import { isHeader } from '../proxy/headers.js';
import { VERSION } from '../version.js';
import { tracesUrl, type TracingConfig } from './config.js';
import { BatchExporter } from './exporter.js';
import { IdSource } from './ids.js';
import { Sampler } from './sampler.js';
import { RequestTrace } from './span.js';
import { parseTraceparent } from './traceparent.js';

/** The instrumentation scope our spans are reported under. */
export const SCOPE = { name: 'load-balancer', version: VERSION } as const;

/**
 * Records every request while tracing is on (a RequestTrace with fixed fields, a TrySpan per
 * try, events as they happen) and decides at its end whether it is kept: sampled by the head
 * sampler, or caught by the tail rule (answered 5xx, retried, or slower than
 * TRACE_SLOW_THRESHOLD). Only kept requests are turned into spans and exported; the others
 * are left to the garbage collector, having cost a few small objects.
 */
export class Tracer {
  readonly exporter: BatchExporter;
  readonly #ids = new IdSource();
  readonly #sampler: Sampler;
  readonly #slow: number;

  constructor(config: TracingConfig, log: Logger) {
    this.#sampler = new Sampler(config.sampler, config.samplerArg);
    this.#slow = config.slowThreshold;
    this.exporter = new BatchExporter({
      url: tracesUrl(config)!,
      protocol: config.protocol,
      headers: config.headers,
      timeout: config.timeout,
      maxQueue: config.maxQueue,
      batchSize: Math.min(config.batchSize, config.maxQueue),
      scheduleDelay: config.scheduleDelay,
      resource: { 'service.name': config.serviceName, ...config.resourceAttributes, 'telemetry.sdk.name': SCOPE.name, 'telemetry.sdk.language': 'nodejs', 'telemetry.sdk.version': VERSION },
      scope: SCOPE,
      log,
    });
  }

  /** A tracer when an endpoint is set, else undefined: tracing off costs nothing but this. */
  static create(config: TracingConfig, log: Logger): Tracer | undefined {
    return tracesUrl(config) === undefined ? undefined : new Tracer(config, log);
  }

  /** The chain's step: starts the record as the request arrives, and decides at its end. */
  middleware(): Middleware {
    return {
      name: 'tracing',
      handle: (ctx, next) => {
        this.begin(ctx);
        next(ctx);
      },
      onEnd: (ctx) => this.end(ctx),
    };
  }

  /** The request's trace: the client's (its `traceparent`, `tracestate`) continued, or a new one. */
  begin(ctx: RequestContext): void {
    const raw = ctx.req.rawHeaders;
    let traceparent: string | undefined;
    let tracestate: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      // `traceparent` and `tracestate` are 11 and 10 characters long: a length check passes over most headers.
      const n = name.length;
      if (n === 11) {
        if (traceparent === undefined && isHeader(name, 'traceparent')) traceparent = raw[i + 1];
      } else if (n === 10 && isHeader(name, 'tracestate')) tracestate = tracestate === undefined ? raw[i + 1] : `${tracestate},${raw[i + 1]}`;
    }
    const parent = parseTraceparent(traceparent);
    const traceId = parent?.traceId ?? this.#ids.traceId();
    const sampled = this.#sampler.sampled(traceId, parent);
    const trace = new RequestTrace(this.#ids, traceId, parent?.spanId ?? '', parent === undefined ? '' : (tracestate ?? ''), sampled, ctx.startTime);
    ctx.trace = trace;
    if (sampled) {
      ctx.traceId = traceId;
      ctx.spanId = trace.spanId;
    }
  }

  /** The request ended: kept (sampled, or by the tail rule) and queued for export, or let go. */
  end(ctx: RequestContext): void {
    const trace = ctx.trace;
    if (trace === undefined) return;
    trace.end = ctx.endTime === 0 ? performance.now() : ctx.endTime;
    const status = ctx.status;
    if (!trace.sampled && status < 500 && ctx.tries <= 1 && !(this.#slow > 0 && trace.end - trace.start >= this.#slow)) return;
    for (const t of trace.tries ?? []) t.finish();
    const req = ctx.req;
    trace.method = ctx.method;
    trace.route = ctx.route;
    trace.pool = ctx.pool;
    trace.status = status;
    trace.clientIp = ctx.clientIp;
    const path = ctx.path;
    const query = path.indexOf('?');
    trace.path = query < 0 ? path : path.slice(0, query);
    trace.protocol = req.httpVersionMajor === 2 ? '2' : (req as { httpVersion?: string }).httpVersion ?? '1.1';
    const host = req.headers.host ?? (req.headers[':authority'] as string | undefined);
    trace.host = host === undefined ? '' : host.replace(/:\d+$/, '');
    trace.requestId = ctx.id;
    if (ctx.error !== undefined) {
      trace.errorCode = ctx.error.code;
      trace.errorMessage = ctx.error.message;
    }
    ctx.traceId = trace.traceId;
    ctx.spanId = trace.spanId;
    this.exporter.add(trace);
  }

  /** Sends what is queued (graceful shutdown). */
  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }
}
