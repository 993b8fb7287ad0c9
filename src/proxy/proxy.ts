import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Transform, type Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Director } from '../balancer/index.js';
import type { RequestContext } from '../context/index.js';
import { DeadlineQueue } from './deadlines.js';
import { CLIENT_CLOSED, ProxyError } from './errors.js';
import { Exchange } from './exchange.js';
import { upstreamRequestHeaders } from './headers.js';
import { Sweep, sweepInterval } from './sweep.js';

export interface ProxyOptions {
  /** Close a tunnel (an upgraded connection) with no traffic either way for this long, in ms; 0 never. */
  readonly tunnelIdleTimeout?: number;
  /**
   * Milliseconds for a backend to start its response once the whole request has been sent
   * (Go's `ResponseHeaderTimeout`), and for it to take any of a request body it is being sent: else 504.
   */
  readonly timeout: number;
  /** Longest pause, in ms, of a client sending its request body: else 408 (0: none). */
  readonly bodyTimeout?: number;
  /** Longest time, in ms, a client may take none of its response: else it is cut (0: none). */
  readonly sendTimeout?: number;
  /** Seconds for `Retry-After` on a 503. */
  readonly retryAfter: number;
  /** Largest request body in bytes (0: unlimited); enforced here for chunked bodies. */
  readonly maxBodySize?: number;
}

/** Short plain-text bodies for the statuses we generate, made once. */
const ERROR_BODIES = new Map([400, 408, 413, 500, 502, 503, 504].map((status) => [status, Buffer.from(`${status} ${STATUS_CODES[status]}\n`)]));

const NO_BACKEND = new ProxyError('LB_ERR_NO_BACKEND', 'no backend available');
const NO_NEW_TUNNEL = new ProxyError('LB_ERR_SHUTDOWN', 'shutting down: no new tunnels');

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
  /** CLIENT_BODY_TIMEOUT and CLIENT_SEND_TIMEOUT in milliseconds (0: none). */
  readonly bodyTimeout: number;
  readonly sendTimeout: number;
  readonly tunnelIdleTimeout: number;
  /** Every exchange waiting for its response head, in PROXY_TIMEOUT order. */
  readonly deadlines = new DeadlineQueue();
  /** Exchanges sending a request body or stalled on a slow client. */
  readonly sweep: Sweep;

  constructor(director: Director, options: ProxyOptions) {
    this.#director = director;
    this.#retryAfter = String(Math.max(1, Math.ceil(options.retryAfter)));
    this.#maxBody = options.maxBodySize ?? 0;
    this.timeout = options.timeout;
    this.bodyTimeout = options.bodyTimeout ?? 0;
    this.sendTimeout = options.sendTimeout ?? 0;
    this.tunnelIdleTimeout = options.tunnelIdleTimeout ?? 0;
    this.sweep = new Sweep(sweepInterval(this.timeout, this.bodyTimeout, this.sendTimeout));
  }

  /** The final handler of the middleware chain. */
  readonly handle = (ctx: RequestContext): void => {
    const req = ctx.req;
    const url = req.url ?? '/';
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
    const backend = this.#director.pick(ctx);
    if (backend === undefined) {
      this.fail(ctx, NO_BACKEND);
      return;
    }
    ctx.backend = backend;
    // Every backend in the pool has its connections from the moment it is added until it has
    // been removed and drained, which cannot happen while this request is in flight to it.
    const exchange = new Exchange(this, ctx, backend, backend.upstream!);
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
  };

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
    // An unread request body would otherwise be read and thrown away before the next request.
    if (this.draining || !ctx.req.complete) res.shouldKeepAlive = false;
    ctx.bytes = body.length;
    res.end(body);
  }
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
