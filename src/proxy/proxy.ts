import { performance } from 'node:perf_hooks';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Transform, type Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Director } from '../balancer/index.js';
import type { RequestContext } from '../context/index.js';
import type { Backend } from '../pool/index.js';
import { DeadlineQueue, type Deadline } from './deadlines.js';
import { ProxyError, toProxyError } from './errors.js';
import { downstreamResponseHeaders, upstreamRequestHeaders, type RequestHeaderInfo } from './headers.js';

export interface ProxyOptions {
  /** Milliseconds for a backend to start its response (queueing and connecting included): else 504. */
  readonly timeout: number;
  /** Seconds for `Retry-After` on 503 when no backend is healthy. */
  readonly retryAfter: number;
  /** Largest request body in bytes (0: unlimited); enforced here for chunked bodies. */
  readonly maxBodySize?: number;
}

/** Short plain-text bodies for the statuses we generate, made once. */
const ERROR_BODIES = new Map([400, 413, 500, 502, 503, 504].map((status) => [status, Buffer.from(`${status} ${STATUS_CODES[status]}\n`)]));

const NO_BACKEND = new ProxyError('LB_ERR_NO_BACKEND', 'no healthy backend');
/** Recorded when the client leaves before its response is complete. */
export const CLIENT_CLOSED = new ProxyError('LB_ERR_CLIENT_CLOSED', 'client closed the request');

/**
 * Forwards a request to the backend the director picks, over that backend's keep-alive pool,
 * streaming both bodies with backpressure, and maps every failure to one status.
 */
export class Proxy {
  /** Set during graceful shutdown: responses carry `Connection: close`. */
  draining = false;
  readonly #director: Director;
  readonly #retryAfter: string;
  readonly #maxBody: number;
  /** PROXY_TIMEOUT in milliseconds. */
  readonly timeout: number;
  /** Every exchange waiting for its response head, in PROXY_TIMEOUT order. */
  readonly deadlines = new DeadlineQueue();

  constructor(director: Director, options: ProxyOptions) {
    this.#director = director;
    this.#retryAfter = String(Math.max(1, Math.ceil(options.retryAfter)));
    this.#maxBody = options.maxBodySize ?? 0;
    this.timeout = options.timeout;
  }

  /** The final handler of the middleware chain. */
  readonly handle = (ctx: RequestContext): void => {
    const backend = this.#director.pick(ctx);
    if (backend === undefined || backend.dispatcher === undefined) {
      this.fail(ctx, NO_BACKEND);
      return;
    }
    ctx.backend = backend;
    const exchange = new Exchange(this, ctx, backend);
    const req = ctx.req;
    const headers = upstreamRequestHeaders(req.rawHeaders, ctx.clientIp, ctx.proto, ctx.id, exchange);
    const url = req.url ?? '/';
    const h2 = req.httpVersionMajor === 2;
    // HTTP/2 bodies need no Content-Length: the stream says whether one follows.
    if (h2 && !(req as unknown as { stream: { endAfterHeaders: boolean } }).stream.endAfterHeaders) exchange.hasBody = true;
    const chunked = exchange.hasBody && !h2 && req.headers['content-length'] === undefined;
    const options: Dispatcher.DispatchOptions = {
      path: backend.pathPrefix !== '' && url.charCodeAt(0) === 47 /* / */ ? backend.pathPrefix + url : url,
      method: req.method ?? 'GET',
      headers,
      body: exchange.hasBody && !chunked ? req : null,
    };
    if (chunked) {
      // node:http hands over a request as soon as its head is parsed; the rest of the packet (a
      // broken first chunk, say) is parsed right after. Dispatching on the next tick means such
      // a request is refused (400) before anything of it is sent upstream.
      setImmediate(dispatchChecked, backend.dispatcher, options, exchange, req, this.#maxBody);
    } else {
      backend.dispatcher.dispatch(options, exchange);
    }
  };

  /** Answers the client with the error's status (or cuts a response already started) and logs it. */
  fail(ctx: RequestContext, error: ProxyError): void {
    ctx.error = error;
    const res = ctx.res;
    if (error.code === 'LB_ERR_CLIENT_CLOSED' || ctx.clientClosed) {
      ctx.log.info({ backend: ctx.backend?.url, code: error.code }, 'client closed the connection before the response was complete');
      return;
    }
    const cause = error.cause as Error | undefined;
    ctx.log.warn({ backend: ctx.backend?.url, code: error.code, status: error.status, err: cause?.message ?? error.message }, error.message);
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
    // An unread request body would otherwise be read and thrown away before the next request.
    if (this.draining || !ctx.req.complete) res.shouldKeepAlive = false;
    ctx.bytes = body.length;
    res.end(body);
  }
}

/**
 * One upstream exchange: undici's dispatch handler for a single request. It writes the response
 * into node:http's response as it arrives and pauses undici when the client is slow.
 */
class Exchange implements Dispatcher.DispatchHandler, RequestHeaderInfo, Deadline {
  host: string | undefined = undefined;
  hasBody = false;
  deadline: number;
  prevDeadline: Deadline | undefined = undefined;
  nextDeadline: Deadline | undefined = undefined;
  queued = false;
  readonly #proxy: Proxy;
  readonly #ctx: RequestContext;
  readonly #backend: Backend;
  #abort: ((err: Error) => void) | undefined = undefined;
  /** A reason to abort with as soon as undici hands over its abort function. */
  #cancelled: Error | undefined = undefined;
  #resume: (() => void) | undefined = undefined;
  #finished = false;

  constructor(proxy: Proxy, ctx: RequestContext, backend: Backend) {
    this.#proxy = proxy;
    this.#ctx = ctx;
    this.#backend = backend;
    backend.inFlight++;
    backend.requests++;
    ctx.upstream = this;
    this.deadline = performance.now() + proxy.timeout;
    proxy.deadlines.add(this);
  }

  /**
   * Cancels the upstream request (client gone, timeout) at any stage: at once when undici has
   * handed over its abort function, otherwise as soon as it does.
   */
  cancel(reason: Error): void {
    const abort = this.#abort;
    this.#abort = undefined;
    if (abort !== undefined) abort(reason);
    else if (!this.#finished) this.#cancelled ??= reason;
  }

  /** PROXY_TIMEOUT passed without a response head. */
  expire(): void {
    if (this.#finished) return;
    const err = new ProxyError('LB_ERR_UPSTREAM_TIMEOUT', `no response from backend within ${this.#proxy.timeout}ms`);
    this.cancel(err);
    // undici reports the abort through onError; when still queued, answer now.
    this.onError(err);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.#cancelled !== undefined) abort(this.#cancelled);
    else this.#abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.#proxy.deadlines.remove(this);
    const res = this.#ctx.res;
    if (this.#finished || res.destroyed) return false;
    this.#resume = resume;
    const ctx = this.#ctx;
    const now = performance.now();
    this.#backend.observeLatency(now - ctx.startTime, now);
    if (this.#proxy.draining) res.shouldKeepAlive = false;
    const headers = downstreamResponseHeaders(rawHeaders, ctx.id);
    if (ctx.responseHeaders !== undefined) headers.push(...ctx.responseHeaders);
    res.writeHead(statusCode, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    const ctx = this.#ctx;
    ctx.bytes += chunk.length;
    if (ctx.res.write(chunk)) return true;
    ctx.res.once('drain', this.#resume!);
    return false;
  }

  onComplete(): void {
    if (this.#finish()) this.#ctx.res.end();
  }

  onError(err: Error): void {
    if (this.#finish()) this.#proxy.fail(this.#ctx, toProxyError(err));
  }

  /** Ends the exchange once; returns false when it had already ended. */
  #finish(): boolean {
    if (this.#finished) return false;
    this.#finished = true;
    this.#proxy.deadlines.remove(this);
    this.#ctx.upstream = undefined;
    this.#backend.inFlight--;
    return true;
  }
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
function dispatchChecked(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, exchange: Exchange, req: IncomingMessage, maxBody: number): void {
  const socket = req.socket as Socket | null;
  if (socket === null || socket.destroyed || socket.writableEnded) {
    exchange.onError(CLIENT_CLOSED);
    return;
  }
  options.body = maxBody > 0 ? limitBody(req, maxBody) : req;
  dispatcher.dispatch(options, exchange);
}

