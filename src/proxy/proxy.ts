import type { Shadows } from '../balancer/index.js';
import { EXPLAIN_HEADER, Explanation, type ExplainGate } from './explain.js';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Transform, type Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Director } from '../balancer/index.js';
import type { RequestContext } from '../context/index.js';
import type { OutlierDetector } from '../health/index.js';
import type { Backend } from '../pool/index.js';
import { DeadlineQueue } from './deadlines.js';
import { CLIENT_CLOSED, isGatewayFailure, ProxyError } from './errors.js';
import { Exchange } from './exchange.js';
import { upstreamRequestHeaders } from './headers.js';
import { Waiting } from './queue.js';
import { Sweep, sweepInterval } from './sweep.js';

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
  readonly retryOnStatus?: readonly number[];
  /** Retries in flight as a share of requests in flight; at least RETRY_BUDGET_FLOOR always. */
  readonly retryBudget?: number;
  /** Requests that may wait for a backend with room, and for how long (ms). */
  readonly queueSize?: number;
  readonly queueTimeout?: number;
  /** Told of every gateway failure and good response. */
  readonly outlier?: OutlierDetector;
}

/** One try of a request on a backend, as the retry rules see it, whichever engine made it. */
export interface Attempt {
  readonly backend: Backend;
  /** The request declares a body. */
  readonly hasBody: boolean;
  /** The try was sent on its way (a connection asked for); a request never sent is not retried. */
  readonly dispatched: boolean;
}

/**
 * Sends requests upstream for the engine that received them: set on a request's context by an
 * engine other than node:http's (whose requests go through undici, in Exchange).
 */
export interface Forwarder {
  /** Starts a try of `ctx`'s request on `backend`; `retryOf` is the try it replaces, if any. */
  forward(proxy: Proxy, ctx: RequestContext, backend: Backend, retryOf: Attempt | undefined): void;
}

/** Envoy's `min_retry_concurrency`: this many retries in flight are allowed whatever the load. */
export const RETRY_BUDGET_FLOOR = 3;

/** Methods a retry cannot repeat the effect of (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Short plain-text bodies for the statuses we generate, made once. */
const ERROR_BODIES = new Map([400, 408, 413, 500, 502, 503, 504].map((status) => [status, Buffer.from(`${status} ${STATUS_CODES[status]}\n`)]));

const NO_BACKEND = new ProxyError('LB_ERR_NO_BACKEND', 'no backend available');
const QUEUE_FULL = new ProxyError('LB_ERR_QUEUE_FULL', 'every backend is full and so is the queue');
const NO_NEW_TUNNEL = new ProxyError('LB_ERR_SHUTDOWN', 'shutting down: no new tunnels');

/**
 * Forwards a request to the backend the director picks, over that backend's keep-alive pool,
 * streaming both bodies with backpressure, and maps every failure to one status. A request the
 * backend never saw, or an idempotent one without a body that failed before any response, is
 * retried on another backend, within a budget. When every backend is full, requests wait in
 * one FIFO queue and go to whichever backend frees up first.
 */
export class Proxy {
  /** Set during graceful shutdown: responses carry `Connection: close`. */
  draining = false;
  readonly #director: Director;
  readonly #retryAfter: string;
  readonly #maxBody: number;
  /** PROXY_TIMEOUT in milliseconds. */
  timeout: number;
  /** CLIENT_BODY_TIMEOUT and CLIENT_SEND_TIMEOUT in milliseconds (0: none). */
  readonly bodyTimeout: number;
  readonly sendTimeout: number;
  readonly tunnelIdleTimeout: number;
  /** Every exchange waiting for its response head, in PROXY_TIMEOUT order. */
  readonly deadlines = new DeadlineQueue();
  /** Exchanges sending a request body or stalled on a slow client. */
  readonly sweep: Sweep;
  /** 1 at the statuses a response is retried on (RETRY_ON_STATUS), by status. */
  readonly retryStatus = new Uint8Array(600);
  readonly outlier: OutlierDetector | undefined;
  #retries: number;
  #budget: number;
  /** Requests waiting for a backend with room, oldest first; QUEUE_TIMEOUT is their deadline. */
  readonly #queue = new DeadlineQueue();
  #queueSize: number;
  #queueTimeout: number;
  /** Exchanges in flight, and how many of them are retries (the budget's two numbers). */
  active = 0;
  retrying = 0;
  /** Retries made, and refused for the budget, since start-up. */
  retried = 0;
  overBudget = 0;
  /** Set when ADMIN_TOKEN is: requests may then ask how they were routed. */
  explainGate: ExplainGate | undefined;
  /** Counts a gateway failure in the backend's tally row (set by the balancer). */
  countFailure: ((backend: Backend) => void) | undefined;
  /** SHADOW_STRATEGIES, when set. */
  shadows: Shadows | undefined;

  constructor(director: Director, options: ProxyOptions) {
    this.#director = director;
    this.#retryAfter = String(Math.max(1, Math.ceil(options.retryAfter)));
    this.#maxBody = options.maxBodySize ?? 0;
    this.timeout = options.timeout;
    this.bodyTimeout = options.bodyTimeout ?? 0;
    this.sendTimeout = options.sendTimeout ?? 0;
    this.tunnelIdleTimeout = options.tunnelIdleTimeout ?? 0;
    this.sweep = new Sweep(sweepInterval(this.timeout, this.bodyTimeout, this.sendTimeout));
    this.#retries = options.retries ?? 0;
    for (const status of options.retryOnStatus ?? []) this.retryStatus[status] = 1;
    this.#budget = options.retryBudget ?? 0.2;
    this.#queueSize = options.queueSize ?? 0;
    this.#queueTimeout = options.queueTimeout ?? 10_000;
    this.outlier = options.outlier;
  }

  /** New PROXY_TIMEOUT, retry settings, queue size and timeout, for requests from now on (a reload). */
  configure(options: Pick<ProxyOptions, 'timeout' | 'retries' | 'retryOnStatus' | 'retryBudget' | 'queueSize' | 'queueTimeout'>): void {
    this.timeout = options.timeout;
    this.#queueTimeout = options.queueTimeout ?? 10_000;
    this.#retries = options.retries ?? 0;
    this.retryStatus.fill(0);
    for (const status of options.retryOnStatus ?? []) this.retryStatus[status] = 1;
    this.#budget = options.retryBudget ?? 0.2;
    this.#queueSize = options.queueSize ?? 0;
  }

  /** MAX_BODY_SIZE in bytes (0: unlimited). */
  get maxBody(): number {
    return this.#maxBody;
  }

  /** Requests waiting in the queue. */
  get queued(): number {
    return this.#queue.size;
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
    if (this.draining && ctx.head !== undefined) {
      this.fail(ctx, NO_NEW_TUNNEL);
      return;
    }
    if (this.explainGate !== undefined && this.explainGate.requested(ctx.req.rawHeaders)) ctx.explain = new Explanation(this.#director.strategy, this.#director.pool);
    const backend = this.#director.pick(ctx);
    ctx.explain?.picked(ctx, backend, undefined, 'first');
    if (this.shadows !== undefined && backend !== undefined) this.shadows.observe(this.#director.pool.available, ctx, backend);
    if (backend !== undefined) this.#forward(ctx, backend);
    else this.#wait(ctx);
  };

  /**
   * Where the request may be tried again after `error`, when that is safe and allowed, or
   * undefined. Safe: nothing of the request reached the backend (any method, its body
   * untouched), or an idempotent request without a body failed before any response. Allowed:
   * tries left, retries in flight within the budget, and another backend available (or this
   * one, when it is the only one).
   */
  planRetry(ctx: RequestContext, failed: Attempt, error: ProxyError): Backend | undefined {
    ctx.explain?.failed(failed.backend, error.code, error.message);
    if (!this.mayRetry(ctx, failed, error)) return undefined;
    if (this.retrying >= Math.max(RETRY_BUDGET_FLOOR, this.#budget * this.active)) {
      this.overBudget++;
      ctx.log.info({ backend: failed.backend.id, reason: error.message, retrying: this.retrying, active: this.active }, 'not retried: retry budget exhausted');
      return undefined;
    }
    const excluded = (ctx.excluded ??= new Set<Backend>());
    excluded.add(failed.backend);
    const next = this.#director.pick(ctx, excluded) ?? (this.#director.sole === failed.backend ? failed.backend : undefined);
    ctx.explain?.picked(ctx, next, excluded, 'retry');
    return next;
  }

  /**
   * Sends the request that failed in `failed` to `next` (from `planRetry`). The new exchange
   * counts from now (in flight, against the budget); it is dispatched once undici's callback that
   * reported the failure has returned: undici's connections must not be given a request from
   * inside their own callbacks (the failed one may be the one the retry would get).
   */
  retryOn(ctx: RequestContext, failed: Attempt, next: Backend, error: ProxyError): void {
    ctx.tries++;
    this.retried++;
    ctx.log.warn({ backend: failed.backend.id, next: next.id, try: ctx.tries, code: error.code, reason: error.message }, 'retrying on another backend');
    ctx.backend = next;
    if (ctx.forwarder !== undefined) {
      ctx.forwarder.forward(this, ctx, next, failed);
      return;
    }
    const previous = failed as unknown as Exchange; // the node engine's tries are Exchanges
    const exchange = new Exchange(this, ctx, next, true);
    exchange.hasBody = previous.hasBody;
    exchange.host = previous.host;
    const options = withPath(previous.options!, next, ctx.req.url ?? '/');
    queueMicrotask(() => exchange.dispatch(options));
  }

  /** Whether a failure of this kind, at this point, may be retried for this request (budget aside). */
  mayRetry(ctx: RequestContext, failed: Attempt, error: ProxyError): boolean {
    if (ctx.tries > this.#retries || ctx.clientClosed || !failed.dispatched || !isGatewayFailure(error.code)) return false;
    if (error.beforeRequest) return true;
    return error.beforeResponse && !failed.hasBody && IDEMPOTENT.has(ctx.req.method ?? 'GET');
  }

  /** Answers the client with the error's status (or cuts a response already started) and logs it. */
  fail(ctx: RequestContext, error: ProxyError): void {
    ctx.error = error;
    const res = ctx.res;
    if (error.code === 'LB_ERR_CLIENT_CLOSED' || ctx.clientClosed) {
      ctx.log.info({ backend: ctx.backend?.id, code: error.code }, 'client closed the connection before the response was complete');
      return;
    }
    const cause = error.cause as Error | undefined;
    ctx.log.warn({ backend: ctx.backend?.id, code: error.code, status: error.status, err: cause?.message ?? error.message }, error.message);
    if (res.headersSent) {
      // The status line is gone: cutting the connection is the only honest signal left.
      res.destroy();
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
    if (this.draining || !ctx.req.complete) res.shouldKeepAlive = false;
    ctx.bytes = body.length;
    res.end(body);
  }

  /** Counts a try that failed at the gateway (for outlier detection, and the backend's tally row). */
  gatewayFailure(backend: Backend, reason: string): void {
    this.outlier?.failure(backend, reason);
    this.countFailure?.(backend);
  }

  /** The explanation as the response header carries it; logged at debug level too. */
  explained(ctx: RequestContext, explain: Explanation): string {
    ctx.log.debug({ explain }, 'routing explained');
    return explain.header();
  }

  /** Runs `drainQueue` once the current undici callback has returned (see `retryOn`). */
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
        waiting.ctx.upstream = undefined;
        this.fail(waiting.ctx, NO_BACKEND);
        continue;
      }
      this.#queue.remove(waiting);
      waiting.ctx.upstream = undefined;
      waiting.ctx.explain?.picked(waiting.ctx, backend, undefined, 'queued');
      this.#forward(waiting.ctx, backend);
    }
  }

  /** No backend had room: wait in the queue if any backend could take it, else 503 at once. */
  #wait(ctx: RequestContext): void {
    if (!this.#director.routable) { this.fail(ctx, NO_BACKEND); return; }
    if (this.#queue.size >= this.#queueSize) { this.fail(ctx, QUEUE_FULL); return; }
    const waiting = new Waiting(this, ctx, this.#queueTimeout);
    ctx.upstream = waiting;
    this.#queue.add(waiting);
    ctx.log.debug({ queued: this.#queue.size }, 'request queued');
  }

  /** Takes a request out of the queue (it timed out, or its client left). */
  leaveQueue(waiting: Waiting): void {
    this.#queue.remove(waiting);
  }

  #forward(ctx: RequestContext, backend: Backend): void {
    ctx.backend = backend;
    if (ctx.forwarder !== undefined) {
      ctx.forwarder.forward(this, ctx, backend, undefined);
      return;
    }
    const req = ctx.req as IncomingMessage;
    const url = req.url ?? '/';
    const exchange = new Exchange(this, ctx, backend, false);
    const headers = upstreamRequestHeaders(req.rawHeaders, ctx.clientIp, ctx.proto, ctx.id, exchange);
    const h2 = req.httpVersionMajor === 2;
    // HTTP/2 bodies need no Content-Length: the stream says whether one follows.
    if (h2 && !(req as unknown as { stream: { endAfterHeaders: boolean } }).stream.endAfterHeaders) exchange.hasBody = true;
    const chunked = exchange.hasBody && !h2 && req.headers['content-length'] === undefined;
    const options: Dispatcher.DispatchOptions = {
      path: backend.pathPrefix !== '' ? backend.pathPrefix + url : url,
      method: req.method ?? 'GET',
      headers,
      body: exchange.hasBody && !chunked ? req : null,
    };
    // An Upgrade (WebSocket): undici sends `Upgrade` and `Connection: upgrade` itself and hands
    // the connection over on a 101; any other answer is relayed as a normal response.
    if (ctx.head !== undefined) options.upgrade = req.headers.upgrade ?? 'websocket';
    if (chunked) {
      // node:http hands over a request as soon as its head is parsed; the rest of the packet (a
      // broken first chunk, say) is parsed right after. Dispatching on the next tick means such
      // a request is refused (400) before anything of it is sent upstream.
      setImmediate(dispatchChecked, options, exchange, req, this.#maxBody);
    } else {
      exchange.dispatch(options);
    }
  }
}

/** The same request for another backend: its own path prefix, the same headers and body. */
function withPath(options: Dispatcher.DispatchOptions, backend: Backend, url: string): Dispatcher.DispatchOptions {
  return { ...options, path: backend.pathPrefix !== '' ? backend.pathPrefix + url : url };
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

/** A chunked body passed through a byte counter that fails the exchange (413) past `max`. */
function limitBody(req: Readable, max: number): Readable {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > max) done(new ProxyError('LB_ERR_BODY_TOO_LARGE', `request body larger than ${max} bytes`));
      else done(null, chunk);
    },
  });
  req.on('error', (err) => counter.destroy(err));
  return req.pipe(counter);
}

/** Dispatches a chunked request unless its connection has been refused meanwhile; `maxBody` > 0 counts the body. */
function dispatchChecked(options: Dispatcher.DispatchOptions, exchange: Exchange, req: IncomingMessage, maxBody: number): void {
  const socket = req.socket as Socket | null;
  if (socket === null || socket.destroyed || socket.writableEnded) {
    exchange.onError(CLIENT_CLOSED);
    return;
  }
  options.body = maxBody > 0 ? limitBody(req, maxBody) : req;
  exchange.dispatch(options);
}
