import { STATUS_CODES } from 'node:http';
import type { Director, Shadows } from '../balancer/index.js';
import type { RequestContext } from '../context/index.js';
import type { OutlierDetector } from '../health/index.js';
import type { Backend } from '../pool/index.js';
import { Attempt } from './attempt.js';
import { DeadlineQueue, type Deadline } from './deadlines.js';
import { EXPLAIN_HEADER, Explanation, type ExplainGate } from './explain.js';
import { ProxyError } from '../errors/index.js';
import { unreadBody } from '../http1/index.js';
import { answerGrpc, endGrpc, isGrpc, parseGrpcTimeout } from './grpc.js';
import { Waiting } from './queue.js';
import { Sweep, sweepInterval } from './sweep.js';
import type { Transport } from './transport.js';
import type { CompressionPolicy } from './compression/index.js';
import type { RequestTrace } from '../tracing/span.js';

export interface ProxyOptions {
  /**
   * Milliseconds for a backend to start its response once the whole request has been sent
   * (Go's `ResponseHeaderTimeout`), and for it to take any of a request body it is being sent: else 504.
   */
  readonly timeout: number;
  /** Longest pause, in ms, of a client sending its request body: else 408 (0: none). */
  readonly bodyTimeout?: number;
  /** Longest time, in ms, a client may take none of its response: else it is cut (0: none). */
  readonly sendTimeout?: number;
  /** Close a tunnel (an upgraded connection) with no traffic either way for this long, in ms; 0 never. */
  readonly tunnelIdleTimeout?: number;
  /** Seconds for `Retry-After` on a 503. */
  readonly retryAfter: number;
  /** Largest request body in bytes (0: unlimited); enforced here for chunked bodies. */
  readonly maxBodySize?: number;
  /** Further tries on another backend (0: none), the statuses that trigger one, and the budget. */
  readonly retries?: number;
  /** HTTP statuses, and `grpc-unavailable` for a gRPC call's Trailers-Only UNAVAILABLE (see `Attempt.responded`). */
  readonly retryOnStatus?: readonly (number | string)[];
  /** Retries in flight as a share of requests in flight; at least RETRY_BUDGET_FLOOR always. */
  readonly retryBudget?: number;
  /** Requests that may wait for a backend with room, and for how long (ms). */
  readonly queueSize?: number;
  readonly queueTimeout?: number;
  /** Upper bound, in ms, on all tries of one request together until its response starts (0: none): else 504. */
  readonly requestTimeout?: number;
  /** Told of every gateway failure and good response. */
  readonly outlier?: OutlierDetector;
  /** SHADOW_STRATEGIES, when set: told of every first pick. */
  readonly shadows?: Shadows;
  /** Set when ADMIN_TOKEN is: requests may then ask how they were routed. */
  readonly explainGate?: ExplainGate;
  /** Told of every gateway failure (the backend's tally row). */
  readonly onGatewayFailure?: (backend: Backend) => void;
  /** COMPRESSION, shared by every pool's proxy (a reload replaces the policy in it). */
  readonly compression?: { policy: CompressionPolicy | undefined };
}

/** Envoy's `min_retry_concurrency`: this many retries in flight are allowed whatever the load. */
export const RETRY_BUDGET_FLOOR = 3;

/** Methods a retry cannot repeat the effect of (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Short plain-text bodies for the statuses we generate, made once. */
const ERROR_BODIES = new Map([400, 408, 413, 500, 502, 503, 504, 505].map((status) => [status, Buffer.from(`${status} ${STATUS_CODES[status]}\n`)]));

const NO_BACKEND = new ProxyError('LB_ERR_NO_BACKEND', 'no backend available');
const QUEUE_FULL = new ProxyError('LB_ERR_QUEUE_FULL', 'every backend is full and so is the queue');
const NO_NEW_TUNNEL = new ProxyError('LB_ERR_SHUTDOWN', 'shutting down: no new tunnels');
const GRPC_DEADLINE = new ProxyError('LB_ERR_GRPC_DEADLINE', 'the call\'s grpc-timeout passed before the backend answered');

/** RETRY_ON_STATUS's token for a gRPC call's Trailers-Only UNAVAILABLE (Envoy's `retry_on: unavailable`). */
export const RETRY_GRPC_UNAVAILABLE = 'grpc-unavailable';

/** REQUEST_TIMEOUT's (or a gRPC call's grpc-timeout's) entry for one request in one of the proxy's queues of request deadlines. */
class RequestDeadline implements Deadline {
  deadline: number;
  prevDeadline: Deadline | undefined = undefined;
  nextDeadline: Deadline | undefined = undefined;
  queued = false;
  /** The queue it is in: REQUEST_TIMEOUT's, or the one of gRPC deadlines. */
  readonly queue: DeadlineQueue;
  readonly #ctx: RequestContext;
  readonly #error: ProxyError;

  constructor(ctx: RequestContext, timeout: number, error: ProxyError, queue: DeadlineQueue) {
    this.#ctx = ctx;
    this.#error = error;
    this.queue = queue;
    this.deadline = ctx.startTime + timeout;
    queue.add(this);
  }

  /** No response within REQUEST_TIMEOUT (or the call's grpc-timeout): whatever is running (an attempt, a wait in the queue) stops, 504 (DEADLINE_EXCEEDED). */
  expire(): void {
    const ctx = this.#ctx;
    ctx.deadline = undefined;
    ctx.attempt?.cancel(this.#error);
  }
}

/**
 * Sends each request to the backend the director picks, through its transport, and maps every
 * failure to one status. A request the backend never saw, or an idempotent one without a body
 * that failed before any response, is retried on another backend (never on one where it timed
 * out), within a budget and REQUEST_TIMEOUT. When every backend is full, requests wait in one
 * FIFO queue and go to whichever backend frees up first. Each try is an Attempt, which keeps
 * the counts below.
 */
export class Proxy {
  /** Set during graceful shutdown: responses carry `Connection: close`. */
  draining = false;
  readonly transport: Transport;
  readonly #director: Director;
  readonly #retryAfter: string;
  readonly #maxBody: number;
  /** PROXY_TIMEOUT in milliseconds. */
  timeout: number;
  /** CLIENT_BODY_TIMEOUT and CLIENT_SEND_TIMEOUT in milliseconds (0: none). */
  readonly bodyTimeout: number;
  readonly sendTimeout: number;
  /** Every attempt waiting for its response head, in PROXY_TIMEOUT order. */
  readonly deadlines = new DeadlineQueue();
  /** Attempts sending a request body, stalled on a slow client or receiving a body. */
  readonly sweep: Sweep;
  /** 1 at the statuses a response is retried on (RETRY_ON_STATUS), by status. */
  readonly retryStatus = new Uint8Array(600);
  /** RETRY_ON_STATUS has `grpc-unavailable`: a gRPC call's Trailers-Only UNAVAILABLE is retried (its body is kept for that). */
  retryGrpcUnavailable = false;
  readonly #outlier: OutlierDetector | undefined;
  readonly #shadows: Shadows | undefined;
  readonly #explainGate: ExplainGate | undefined;
  readonly #onGatewayFailure: ((backend: Backend) => void) | undefined;
  /** COMPRESSION (the policy undefined when off); a route's Compression filter overrides it (`ctx.compression`). */
  readonly compression: { policy: CompressionPolicy | undefined };
  #retries: number;
  #budget: number;
  /** Requests waiting for a backend with room, oldest first; QUEUE_TIMEOUT is their deadline. */
  readonly #queue = new DeadlineQueue();
  #queueSize: number;
  #queueTimeout: number;
  /** REQUEST_TIMEOUT: one entry per request until its response starts. */
  readonly #requestDeadlines = new DeadlineQueue();
  /**
   * gRPC calls' deadlines (grpc-timeout) where sooner than REQUEST_TIMEOUT. Their durations
   * differ, so an entry may be walked back past later ones as it is added (see DeadlineQueue):
   * a short walk when calls carry similar timeouts, as a client's calls do.
   */
  readonly #grpcDeadlines = new DeadlineQueue();
  #requestTimeout: number;
  #requestTimeoutError: ProxyError;
  /** Attempts in flight, and how many of them are retries (the budget's two numbers); written by Attempt. */
  active = 0;
  retrying = 0;
  /** Retries made, and refused for the budget, since start-up. */
  retried = 0;
  overBudget = 0;

  constructor(director: Director, transport: Transport, options: ProxyOptions) {
    this.#director = director;
    this.transport = transport;
    this.#retryAfter = String(Math.max(1, Math.ceil(options.retryAfter)));
    this.#maxBody = options.maxBodySize ?? 0;
    this.timeout = options.timeout;
    this.bodyTimeout = options.bodyTimeout ?? 0;
    this.sendTimeout = options.sendTimeout ?? 0;
    this.sweep = new Sweep(sweepInterval(this.timeout, this.bodyTimeout, this.sendTimeout));
    this.#retries = options.retries ?? 0;
    this.#retryOn(options.retryOnStatus);
    this.#budget = options.retryBudget ?? 0.2;
    this.#queueSize = options.queueSize ?? 0;
    this.#queueTimeout = options.queueTimeout ?? 10_000;
    this.#requestTimeout = options.requestTimeout ?? 0;
    this.#requestTimeoutError = requestTimeoutError(this.#requestTimeout);
    this.#outlier = options.outlier;
    this.#shadows = options.shadows;
    this.#explainGate = options.explainGate;
    this.#onGatewayFailure = options.onGatewayFailure;
    this.compression = options.compression ?? { policy: undefined };
  }

  /** New PROXY_TIMEOUT, REQUEST_TIMEOUT, retry settings, queue size and timeout, for requests from now on (a reload). */
  configure(options: Pick<ProxyOptions, 'timeout' | 'requestTimeout' | 'retries' | 'retryOnStatus' | 'retryBudget' | 'queueSize' | 'queueTimeout'>): void {
    this.timeout = options.timeout;
    this.#requestTimeout = options.requestTimeout ?? 0;
    this.#requestTimeoutError = requestTimeoutError(this.#requestTimeout);
    this.#queueTimeout = options.queueTimeout ?? 10_000;
    this.#retries = options.retries ?? 0;
    this.#retryOn(options.retryOnStatus);
    this.#budget = options.retryBudget ?? 0.2;
    this.#queueSize = options.queueSize ?? 0;
  }

  #retryOn(list: readonly (number | string)[] | undefined): void {
    this.retryStatus.fill(0);
    this.retryGrpcUnavailable = false;
    for (const status of list ?? []) {
      if (typeof status === 'number') this.retryStatus[status] = 1;
      else if (status === RETRY_GRPC_UNAVAILABLE) this.retryGrpcUnavailable = true;
    }
  }

  /** MAX_BODY_SIZE in bytes (0: unlimited). */
  get maxBody(): number {
    return this.#maxBody;
  }

  /** Requests waiting in the queue. */
  get queued(): number {
    return this.#queue.size;
  }

  /** SHADOW_STRATEGIES, when set. */
  get shadows(): Shadows | undefined {
    return this.#shadows;
  }

  /** The final handler of the middleware chain. */
  readonly handle = (ctx: RequestContext): void => {
    const url = ctx.req.url ?? '/';
    // The listener lets through origin-form targets and `OPTIONS *` only.
    if (url.charCodeAt(0) !== 47 /* / */) {
      answerOptions(ctx);
      return;
    }
    // A tunnel opened now would only be cut at the shutdown timeout.
    if (this.draining && ctx.upgrade) {
      this.fail(ctx, NO_NEW_TUNNEL);
      return;
    }
    // gRPC needs HTTP/2: an HTTP/1.1 request is never looked at (nor its headers object made).
    if (ctx.req.httpVersionMajor === 2 && isGrpc(ctx)) this.#grpcCall(ctx);
    else if (this.#requestTimeout > 0) ctx.deadline = new RequestDeadline(ctx, this.#requestTimeout, this.#requestTimeoutError, this.#requestDeadlines);
    if (this.#explainGate !== undefined && (ctx.explaining ?? this.#explainGate.requested(ctx.req.rawHeaders))) ctx.explain = new Explanation(this.#director.strategy, this.#director.pool, ctx);
    const backend = this.#director.pick(ctx);
    // A hook's selectBackend may override or veto the strategy's choice, then comes back to `picked`.
    if (ctx.hooks?.selects === true) { ctx.hooks.select(this, this.#director.pool.available, backend); return; }
    this.picked(ctx, backend);
  };

  /** The request's first backend is chosen (by the strategy, or a hook): sent there, or queued when none. */
  picked(ctx: RequestContext, backend: Backend | undefined): void {
    ctx.explain?.picked(ctx, backend, undefined, 'first');
    if (ctx.trace !== undefined) this.#tracePick(ctx, ctx.trace, backend, undefined, 'first');
    if (this.#shadows !== undefined && backend !== undefined) this.#shadows.observe(this.#director.pool.available, ctx, backend);
    if (backend !== undefined) this.#send(ctx, backend, undefined);
    else this.#wait(ctx);
  }

  /**
   * Where the request may be tried again after `error`, when that is safe and allowed, or
   * undefined. Safe: nothing of the request reached the backend (any method, its body
   * untouched), or an idempotent request without a body failed before any response. Allowed:
   * tries left, retries in flight within the budget, and another backend available (or this
   * one, when it is the only one and the failure was not a timeout: a backend that let a
   * request time out is stuck, and a second wait there only doubles the client's).
   */
  planRetry(ctx: RequestContext, failed: Attempt, error: ProxyError): Backend | undefined {
    ctx.explain?.failed(failed.backend, error.code, error.message);
    ctx.trace?.explain?.failed(failed.backend, error.code, error.message);
    if (!this.mayRetry(ctx, failed, error)) return undefined;
    if (this.retrying >= Math.max(RETRY_BUDGET_FLOOR, this.#budget * this.active)) {
      this.overBudget++;
      ctx.trace?.event('lb.retry_budget_exhausted', { 'lb.backend': failed.backend.id, 'error.type': error.code, 'lb.retrying': this.retrying, 'lb.active': this.active });
      ctx.log.info({ backend: failed.backend.id, reason: error.message, retrying: this.retrying, active: this.active }, 'not retried: retry budget exhausted');
      return undefined;
    }
    const excluded = (ctx.excluded ??= new Set<Backend>());
    excluded.add(failed.backend);
    const next = this.#director.pick(ctx, excluded)
      ?? (error.sameBackend && this.#director.sole === failed.backend ? failed.backend : undefined);
    ctx.explain?.picked(ctx, next, excluded, 'retry');
    if (ctx.trace !== undefined) this.#tracePick(ctx, ctx.trace, next, excluded, 'retry');
    return next;
  }

  /**
   * Sends the request that failed in `failed` to `next` (from `planRetry`). The new attempt
   * counts from now (in flight, against the budget); it is sent once the transport's callback
   * that reported the failure has returned (a connection must not be given a request from
   * inside its own callbacks: the failed one may be the one the retry would get).
   */
  retryOn(ctx: RequestContext, failed: Attempt, next: Backend, error: ProxyError): void {
    ctx.tries++;
    this.retried++;
    ctx.log.warn({ backend: failed.backend.id, next: next.id, try: ctx.tries, code: error.code, reason: error.message }, 'retrying on another backend');
    ctx.trace?.event('lb.retry', { 'lb.try': ctx.tries, 'lb.backend': failed.backend.id, 'lb.next': next.id, 'error.type': error.code, 'lb.reason': error.message });
    const hooks = ctx.hooks;
    if (hooks?.selects === true) {
      // A hook's selectBackend is asked about each try's pick too, among the backends not tried yet.
      ctx.backend = next;
      const excluded = ctx.excluded;
      const candidates = excluded === undefined ? this.#director.pool.available : this.#director.pool.available.filter((b) => !excluded.has(b));
      queueMicrotask(() => {
        if (!ctx.clientClosed) hooks.select(this, candidates, next, 'retry', failed, error);
      });
      return;
    }
    this.retryPicked(ctx, failed, next);
  }

  /** A retry's backend is chosen (by the strategy, or a hook): its attempt counts from now, and is sent (see `retryOn`). */
  retryPicked(ctx: RequestContext, failed: Attempt, next: Backend): void {
    ctx.backend = next;
    const attempt = new Attempt(this, ctx, next, true);
    queueMicrotask(() => {
      if (attempt.ended) return;
      // A hook's onUpstreamRequest runs for every try.
      if (ctx.hooks !== undefined) ctx.hooks.send(attempt, this.transport, failed);
      else this.transport.send(attempt, failed);
    });
  }

  /** Whether a failure of this kind, at this point, may be retried for this request (budget aside). */
  mayRetry(ctx: RequestContext, failed: Attempt, error: ProxyError): boolean {
    if (ctx.tries > this.#retries || ctx.clientClosed || !failed.dispatched) return false;
    switch (error.retry) {
      case 'any': return true;
      case 'idempotent': return !failed.hasBody && IDEMPOTENT.has(ctx.req.method ?? 'GET');
      default: return false;
    }
  }

  /** Answers the client with the error's status (or cuts a response already started) and logs it. */
  fail(ctx: RequestContext, error: ProxyError): void {
    this.responding(ctx);
    ctx.error = error;
    const res = ctx.res;
    if (error.code === 'LB_ERR_CLIENT_CLOSED' || ctx.clientClosed) {
      ctx.log.info({ backend: ctx.backend?.id, code: error.code }, 'client closed the connection before the response was complete');
      return;
    }
    const cause = error.cause as Error | undefined;
    ctx.log.warn({ backend: ctx.backend?.id, code: error.code, status: error.status, err: cause?.message ?? error.message }, error.message);
    if (res.headersSent) {
      // A gRPC call's status goes in its trailers (UNAVAILABLE, not a reset a client reads as INTERNAL).
      if (isGrpc(ctx) && endGrpc(ctx, error)) return;
      // The status line is gone: cutting the connection is the only honest signal left.
      res.destroy();
      return;
    }
    // A hook's onResponse sees the balancer's own answer first (a gRPC call's too), and may answer
    // otherwise, or hold it while its promise is pending (then `answer` follows).
    if (ctx.hooks !== undefined && ctx.hooks.answerError(this, error)) return;
    this.answer(ctx, error);
  }

  /** The balancer's own answer for `error` (the status line not sent yet): the gRPC way for a gRPC call. */
  answer(ctx: RequestContext, error: ProxyError): void {
    const res = ctx.res;
    if (isGrpc(ctx)) {
      if (this.draining || unreadBody(ctx.req)) res.shouldKeepAlive = false;
      answerGrpc(ctx, error.status, error.message);
      return;
    }
    const body = ERROR_BODIES.get(error.status) ?? ERROR_BODIES.get(502)!;
    res.statusCode = error.status;
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.setHeader('content-length', body.length);
    res.setHeader('cache-control', 'no-store');
    if (ctx.id !== '') res.setHeader('x-request-id', ctx.id);
    const extra = ctx.responseHeaders;
    if (extra !== undefined) for (let i = 0; i < extra.length; i += 2) res.appendHeader(extra[i]!, extra[i + 1]!);
    if (error.status === 503) res.setHeader('retry-after', this.#retryAfter);
    if (ctx.explain !== undefined) res.setHeader(EXPLAIN_HEADER, this.explained(ctx, ctx.explain));
    // An unread request body would otherwise be read and thrown away before the next request.
    if (this.draining || unreadBody(ctx.req)) res.shouldKeepAlive = false;
    ctx.bytes = body.length;
    res.end(body);
  }

  /** The request's answer has started (or it failed): REQUEST_TIMEOUT no longer applies. */
  responding(ctx: RequestContext): void {
    const deadline = ctx.deadline;
    if (deadline === undefined) return;
    ctx.deadline = undefined;
    (deadline as RequestDeadline).queue.remove(deadline);
  }

  /** Counts a try that failed at the gateway (for outlier detection, and the backend's tally row). */
  gatewayFailure(backend: Backend, reason: string): void {
    this.#outlier?.failure(backend, reason);
    this.#onGatewayFailure?.(backend);
  }

  /** A try the backend answered (not 502-504): its run of gateway failures is over. */
  succeeded(backend: Backend): void {
    this.#outlier?.success(backend);
  }

  /** The explanation as the response header carries it; logged at debug level too. */
  explained(ctx: RequestContext, explain: Explanation): string {
    ctx.log.debug({ explain }, 'routing explained');
    return explain.header();
  }

  /** Runs `drainQueue` once the current transport callback has returned (see `retryOn`). */
  scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    queueMicrotask(this.#drainLater);
  }

  #drainScheduled = false;
  readonly #drainLater = (): void => {
    this.#drainScheduled = false;
    this.drainQueue();
  };

  /**
   * A backend may have room now (a request ended, the pool changed): requests waiting go, in
   * order, to whichever backend has room.
   */
  drainQueue(): void {
    while (this.#queue.size > 0) {
      const waiting = this.#queue.first as Waiting;
      const backend = this.#director.pick(waiting.ctx);
      if (backend === undefined) {
        if (this.#director.routable) return;
        // Nothing can take it any more (the pool emptied): those waiting are answered at once.
        this.#queue.remove(waiting);
        waiting.ctx.attempt = undefined;
        this.fail(waiting.ctx, NO_BACKEND);
        continue;
      }
      this.#queue.remove(waiting);
      waiting.ctx.attempt = undefined;
      waiting.ctx.explain?.picked(waiting.ctx, backend, undefined, 'queued');
      if (waiting.ctx.trace !== undefined) this.#tracePick(waiting.ctx, waiting.ctx.trace, backend, undefined, 'queued');
      // A hook's selectBackend is asked about a queued request's backend too (then `sendQueued`).
      if (waiting.ctx.hooks?.selects === true) waiting.ctx.hooks.select(this, this.#director.pool.available, backend, 'queued');
      else this.#send(waiting.ctx, backend, undefined);
    }
  }

  /** No backend had room: wait in the queue if any backend could take it, else 503 at once. */
  #wait(ctx: RequestContext): void {
    if (!this.#director.routable) { this.fail(ctx, NO_BACKEND); return; }
    if (this.#queue.size >= this.#queueSize) { this.fail(ctx, QUEUE_FULL); return; }
    const waiting = new Waiting(this, ctx, this.#queueTimeout);
    ctx.attempt = waiting;
    this.#queue.add(waiting);
    ctx.log.debug({ queued: this.#queue.size }, 'request queued');
    ctx.trace?.event('lb.queued', { 'lb.queue.length': this.#queue.size });
  }

  /** Takes a request out of the queue (it timed out, or its client left). */
  leaveQueue(waiting: Waiting): void {
    this.#queue.remove(waiting);
  }

  /**
   * A gRPC call: its status is watched (Attempt.responded), its body kept for a retry when
   * RETRY_ON_STATUS has `grpc-unavailable`, and its `grpc-timeout` is its deadline when sooner
   * than REQUEST_TIMEOUT (else REQUEST_TIMEOUT is): past it, the attempt is cancelled (its
   * stream reset, which the backend sees as a cancellation) and the client answered
   * DEADLINE_EXCEEDED. PROXY_TIMEOUT bounds each try as for any request. A malformed
   * `grpc-timeout` is ignored, as gRPC servers ignore it.
   */
  #grpcCall(ctx: RequestContext): void {
    ctx.grpc = true;
    if (this.retryGrpcUnavailable && this.#retries > 0) ctx.replay = [];
    const timeout = parseGrpcTimeout(ctx.req.headers['grpc-timeout']);
    const request = this.#requestTimeout;
    if (timeout >= 0 && (request === 0 || timeout < request)) ctx.deadline = new RequestDeadline(ctx, timeout, GRPC_DEADLINE, this.#grpcDeadlines);
    else if (request > 0) ctx.deadline = new RequestDeadline(ctx, request, this.#requestTimeoutError, this.#requestDeadlines);
  }

  /**
   * A traced request's pick as a span event (`lb.route`: strategy, candidates, chosen,
   * excluded); a sampled request also keeps the whole explanation (X-LB-Explain's, without
   * sending it to the client), which costs a pass over the pool that unsampled ones skip.
   */
  #tracePick(ctx: RequestContext, trace: RequestTrace, chosen: Backend | undefined, excluded: ReadonlySet<Backend> | undefined, after: 'first' | 'retry' | 'queued'): void {
    const director = this.#director;
    trace.event('lb.route', {
      'lb.strategy': director.strategy.name, 'lb.after': after, 'lb.candidates': director.pool.available.length,
      'lb.chosen': chosen?.id ?? '', 'lb.excluded': excluded === undefined ? '' : [...excluded].map((b) => b.id).join(','),
    });
    if (trace.sampled) (trace.explain ??= new Explanation(director.strategy, director.pool, ctx)).picked(ctx, chosen, excluded, after);
  }

  /** A request that waited in the queue goes to `backend` (a hook's selectBackend chose it). */
  sendQueued(ctx: RequestContext, backend: Backend): void {
    this.#send(ctx, backend, undefined);
  }

  #send(ctx: RequestContext, backend: Backend, retryOf: Attempt | undefined): void {
    ctx.backend = backend;
    // A request with hooks goes through their onUpstreamRequest first.
    if (ctx.hooks !== undefined && retryOf === undefined) ctx.hooks.send(new Attempt(this, ctx, backend, false), this.transport);
    else this.transport.send(new Attempt(this, ctx, backend, false), retryOf);
  }
}

function requestTimeoutError(ms: number): ProxyError {
  return new ProxyError('LB_ERR_REQUEST_TIMEOUT', `no response within REQUEST_TIMEOUT (${ms}ms)`);
}

/**
 * `OPTIONS *` asks about the server as a whole (RFC 9110 §9.3.7), and to the client the
 * balancer is the server: it answers itself. undici could not send the asterisk form anyway.
 */
function answerOptions(ctx: RequestContext): void {
  const res = ctx.res;
  res.statusCode = 200;
  res.setHeader('content-length', 0);
  if (ctx.id !== '') res.setHeader('x-request-id', ctx.id);
  res.end();
}
