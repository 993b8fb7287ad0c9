import { performance } from 'node:perf_hooks';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ContextResponse, RequestContext } from '../context/index.js';
import type { Backend, Upstream } from '../pool/index.js';
import type { Deadline } from './deadlines.js';
import { CLIENT_CLOSED, isGatewayFailure, ProxyError, toProxyError, type Stage } from './errors.js';
import { downstreamResponseHeaders, type RequestHeaderInfo } from './headers.js';
import type { Proxy } from './proxy.js';
import { Progress } from './progress.js';
import type { Sweepable } from './sweep.js';
import { openTunnel } from './tunnel.js';

/** What an exchange is waiting on, for the sweep: the client's request body, a slow client. */
const UPLOADING = 1;
const STALLED = 2;

/**
 * One upstream exchange: undici's dispatch handler for a single request, on one connection
 * taken from the backend's pool and handed back when the exchange ends. It writes the
 * response into node:http's response as it arrives and pauses undici when the client is slow.
 */
export class Exchange implements Dispatcher.DispatchHandler, RequestHeaderInfo, Deadline, Sweepable, Stage {
  host: string | undefined = undefined;
  hasBody = false;
  deadline = 0;
  prevDeadline: Deadline | undefined = undefined;
  nextDeadline: Deadline | undefined = undefined;
  queued = false;
  swept = false;
  prevSwept: Sweepable | undefined = undefined;
  nextSwept: Sweepable | undefined = undefined;
  readonly backend: Backend;
  /** A retry: counted against the retry budget while in flight. */
  readonly retry: boolean;
  /** What was dispatched: a retry sends the same to another backend. */
  options: Dispatcher.DispatchOptions | undefined = undefined;
  readonly #proxy: Proxy;
  readonly #ctx: RequestContext;
  /** node:http's response: an exchange serves requests of the node engine. */
  readonly #res: ContextResponse;
  readonly #upstream: Upstream;
  #connection: Dispatcher | undefined = undefined;
  #abort: ((err: Error) => void) | undefined = undefined;
  /** A reason to abort with as soon as undici hands over its abort function. */
  #cancelled: Error | undefined = undefined;
  #resume: (() => void) | undefined = undefined;
  /** undici has started writing the request (it calls onConnect just before). */
  #writing = false;
  #finished = false;
  /** UPLOADING | STALLED while the sweep watches this exchange. */
  #waiting = 0;
  /** How the request body and the response move, for the sweep. */
  readonly #progress = new Progress();

  constructor(proxy: Proxy, ctx: RequestContext, backend: Backend, retry: boolean) {
    this.#proxy = proxy;
    this.#ctx = ctx;
    this.#res = ctx.res as ContextResponse;
    this.backend = backend;
    this.retry = retry;
    // Every backend in the pool has its connections from the moment it is added until it has
    // been removed and drained, which cannot happen while this request is in flight to it.
    this.#upstream = backend.upstream!;
    backend.startRequest();
    proxy.active++;
    if (retry) proxy.retrying++;
    ctx.upstream = this;
  }

  /** Sends the request on a connection of the backend's pool. */
  dispatch(options: Dispatcher.DispatchOptions): void {
    this.options = options;
    if (this.hasBody) this.#watch(UPLOADING);
    const connection = this.#connection = this.#upstream.acquire();
    connection.dispatch(options, this);
  }

  /** Sent on its way: the request went to a connection of the backend's pool. */
  get dispatched(): boolean {
    return this.options !== undefined;
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

  /** Nothing of the request reached the backend yet. */
  get beforeRequest(): boolean {
    return !this.#writing;
  }

  /** No byte of the response has come back yet. */
  get beforeResponse(): boolean {
    return this.#resume === undefined;
  }

  /** PROXY_TIMEOUT passed without a response head. */
  expire(): void {
    this.#timeout(new ProxyError('LB_ERR_UPSTREAM_TIMEOUT', `no response from backend within ${this.#proxy.timeout}ms`, { stage: this }));
  }

  /** The client took some of its response: undici may go on, once no parser is running. */
  drained(): void {
    this.#unwatch(STALLED);
    // node:http can emit 'drain' synchronously while undici is inside another connection's
    // parser (a pipelined response taking over the socket); undici's parsers must not be
    // re-entered, so the resume waits until that call stack has unwound.
    if (this.#resume !== undefined && !this.#finished) queueMicrotask(this.#resume);
  }

  sweep(elapsed: number): void {
    if ((this.#waiting & UPLOADING) !== 0) this.#sweepUpload(elapsed);
    if ((this.#waiting & STALLED) !== 0) this.#sweepStall(elapsed);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.#cancelled !== undefined) {
      abort(this.#cancelled);
      return;
    }
    this.#abort = abort;
    this.#writing = true;
  }

  /** undici 7 passes the chunk written (its typings say a size: either is counted). */
  onBodySent(chunk: Buffer | string | number): void {
    this.#progress.bodyMoved = true;
    this.#ctx.bytesIn += typeof chunk === 'number' ? chunk : chunk.length;
  }

  /** The whole request is on the wire: the backend's time to answer starts now. */
  onRequestSent(): void {
    this.#unwatch(UPLOADING);
    if (this.#finished || this.#resume !== undefined) return;
    this.deadline = performance.now() + this.#proxy.timeout;
    this.#proxy.deadlines.add(this);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    const proxy = this.#proxy;
    proxy.deadlines.remove(this);
    const res = this.#res;
    if (this.#finished || res.destroyed) return false;
    const ctx = this.#ctx;
    const backend = this.backend;
    if (statusCode >= 502 && statusCode <= 504) {
      proxy.gatewayFailure(backend, `status ${statusCode}`);
      if (proxy.retryStatus[statusCode] === 1 && this.#retryOnStatus(statusCode)) return false;
    } else {
      backend.failures = 0;
      if (proxy.retryStatus[statusCode] === 1 && this.#retryOnStatus(statusCode)) return false;
    }
    this.#resume = resume;
    const now = performance.now();
    backend.observeLatency(now - ctx.startTime, now);
    if (this.#proxy.draining) res.shouldKeepAlive = false;
    const headers = downstreamResponseHeaders(rawHeaders, ctx.id);
    if (ctx.responseHeaders !== undefined) headers.push(...ctx.responseHeaders);
    if (ctx.explain !== undefined) headers.push('x-lb-explain', proxy.explained(ctx, ctx.explain));
    res.writeHead(statusCode, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    const res = this.#res;
    this.#ctx.bytes += chunk.length;
    if (res.write(chunk)) return true;
    res.once('drain', onClientDrain);
    // A pipelined response queued behind another has no socket yet: the one in front is the
    // one the client is (or is not) reading, and it is watched.
    if (this.#proxy.sendTimeout > 0 && res.socket !== null) {
      this.#progress.stalled(res.writableLength);
      this.#watch(STALLED);
    }
    return false;
  }

  onComplete(): void {
    if (this.#finish()) this.#res.end();
  }

  /**
   * The backend switched protocols: the client's connection and this one become a tunnel. The
   * upstream connection is the tunnel's now (undici lets go of it); the backend counts the
   * tunnel as in flight until it closes, and the request ends then, with its access line.
   */
  onUpgrade(_statusCode: number, rawHeaders: Buffer[], socket: Duplex): void {
    this.#proxy.deadlines.remove(this);
    const ctx = this.#ctx;
    const res = this.#res;
    const client = res.socket;
    if (this.#finished || client === null || client.destroyed) {
      socket.destroy();
      this.onError(CLIENT_CLOSED); // no-op when the exchange had already ended (a timeout, say)
      return;
    }
    this.#finished = true;
    this.#unwatchAll();
    this.#upstream.release(this.#connection!);
    ctx.upstream = undefined;
    ctx.tunnel = true;
    // From here the client's socket is written raw: the response object lets go of it.
    res.detachSocket(client);
    openTunnel(ctx, client, socket, 'Switching Protocols', rawHeaders, this.#proxy.tunnelIdleTimeout, () => this.#tunnelClosed());
  }

  #tunnelClosed(): void {
    this.backend.endRequest();
    // The response never ends for a tunnel: its close is the request's end (one access line).
    this.#res.emit('close');
  }

  onError(err: Error): void {
    if (!this.#finish()) return;
    const proxy = this.#proxy;
    const error = toProxyError(err, this);
    if (isGatewayFailure(error.code)) proxy.gatewayFailure(this.backend, error.message);
    const next = proxy.planRetry(this.#ctx, this, error);
    if (next !== undefined) proxy.retryOn(this.#ctx, this, next, error);
    else proxy.fail(this.#ctx, error);
  }


  /**
   * The backend answered one of RETRY_ON_STATUS, and nothing of its response has gone to the
   * client: when another try is allowed, this one is dropped (its connection with it) and the
   * request goes elsewhere; returns true then. Otherwise the response is relayed as it is.
   */
  #retryOnStatus(statusCode: number): boolean {
    const error = new ProxyError('LB_ERR_UPSTREAM_STATUS', `backend answered ${statusCode}`, { stage: this });
    const proxy = this.#proxy;
    const next = proxy.planRetry(this.#ctx, this, error);
    if (next === undefined) return false;
    // Ended first, so that undici's report of the abort finds it ended.
    this.#finish();
    this.cancel(error);
    proxy.retryOn(this.#ctx, this, next, error);
    return true;
  }

  /** Ends the upstream request with `err` and answers (or cuts) the client with it. */
  #timeout(err: ProxyError): void {
    if (this.#finished) return;
    this.cancel(err);
    // undici reports the abort through onError too, which then finds the exchange ended.
    this.onError(err);
  }

  /** A request body that does not move: whose fault, and for how long (see Progress). */
  #sweepUpload(elapsed: number): void {
    const req = this.#ctx.req as IncomingMessage;
    const error = this.#progress.checkUpload(elapsed, !req.complete && req.readableFlowing === true, this.#proxy.bodyTimeout, this.#proxy.timeout, this);
    if (error !== undefined) this.#timeout(error);
  }

  /** A client that takes none of its response for CLIENT_SEND_TIMEOUT is cut, and the upstream request with it. */
  #sweepStall(elapsed: number): void {
    const error = this.#progress.checkStall(elapsed, this.#res.writableLength, this.#proxy.sendTimeout);
    if (error !== undefined) this.#timeout(error);
  }

  #watch(what: number): void {
    if (this.#waiting === 0) this.#proxy.sweep.add(this);
    this.#waiting |= what;
  }

  #unwatch(what: number): void {
    if ((this.#waiting & what) === 0) return;
    this.#waiting &= ~what;
    if (this.#waiting === 0) this.#proxy.sweep.delete(this);
  }

  #unwatchAll(): void {
    this.#proxy.deadlines.remove(this);
    if (this.#waiting !== 0) {
      this.#waiting = 0;
      this.#proxy.sweep.delete(this);
    }
  }

  /** Ends the exchange once, handing its connection back; returns false when it had already ended. */
  #finish(): boolean {
    if (this.#finished) return false;
    this.#finished = true;
    this.#unwatchAll();
    this.#ctx.upstream = undefined;
    this.backend.endRequest();
    if (this.#connection !== undefined) this.#upstream.release(this.#connection);
    this.#proxy.active--;
    if (this.retry) this.#proxy.retrying--;
    if (this.#proxy.queued > 0) this.#proxy.scheduleDrain();
    return true;
  }
}

/** A response the exchange had paused on can take more: shared by every exchange, no closure each. */
function onClientDrain(this: ContextResponse): void {
  const exchange = this.context?.upstream;
  if (exchange instanceof Exchange) exchange.drained();
}
