import type { RequestContext } from '../context/index.js';
import type { Backend } from '../pool/index.js';
import type { Deadline } from '../proxy/deadlines.js';
import { isGatewayFailure, ProxyError, toProxyError, type Stage } from '../proxy/errors.js';
import { downstreamResponseLines, isHeader, upstreamRequestLines, type RequestHeaderInfo, type ResponseHeadInfo } from '../proxy/headers.js';
import type { Attempt, Proxy } from '../proxy/proxy.js';
import { Progress } from '../proxy/progress.js';
import type { Sweepable } from '../proxy/sweep.js';
import { openTunnel } from '../proxy/tunnel.js';
import type { BodySink, FastRequest } from './fast-request.js';
import { Framing, type FastResponse } from './fast-response.js';
import type { ConnectionUser, FastUpstream, UpstreamConnection } from './fast-upstream.js';

/** What the sweep watches an exchange for: the request body, a slow client, a stalled response body. */
const UPLOADING = 1;
const STALLED = 2;
const RECEIVING = 4;

/** What the response head's rewriting noticed; one for all: it is read right after being written. */
const headInfo: ResponseHeadInfo = { date: false, length: false };

/** The request's head towards backends, made once per request (a retry reuses it). */
interface UpstreamHead {
  /** Header lines, each ending in CRLF, then the framing; without the request line. */
  readonly lines: string;
  readonly hasBody: boolean;
  /** The client sent a chunked body: it is re-chunked to the backend. */
  readonly chunked: boolean;
  readonly host: string | undefined;
}

/** The engine's connections per backend, and its clock. */
export interface ExchangeHost {
  upstreamOf(backend: Backend): FastUpstream;
  readonly tick: number;
  /** The client connection's reading resumes (the backend took the body chunk). */
  resumeClient(req: FastRequest): void;
}

/**
 * One try of a request on a backend in the fast engine: the request head written as one
 * string, the body passed through as it is read (re-chunked when it came chunked), the
 * response relayed as it comes, with the same rules as the node engine's Exchange: retries,
 * outlier detection, PROXY_TIMEOUT, the body and send timeouts, tunnels.
 */
export class FastExchange implements Attempt, Deadline, Sweepable, Stage, BodySink, ConnectionUser, RequestHeaderInfo {
  readonly backend: Backend;
  readonly retry: boolean;
  host: string | undefined = undefined;
  hasBody = false;
  dispatched = false;
  deadline = 0;
  prevDeadline: Deadline | undefined = undefined;
  nextDeadline: Deadline | undefined = undefined;
  queued = false;
  swept = false;
  prevSwept: Sweepable | undefined = undefined;
  nextSwept: Sweepable | undefined = undefined;
  head: UpstreamHead | undefined = undefined;
  readonly #proxy: Proxy;
  readonly #engine: ExchangeHost;
  readonly #ctx: RequestContext;
  readonly #req: FastRequest;
  readonly #res: FastResponse;
  readonly #upstream: FastUpstream;
  #connection: UpstreamConnection | undefined = undefined;
  #writing = false;
  #responded = false;
  #requestSent = false;
  #finished = false;
  #waiting = 0;
  /** How the request body and the response move, for the sweep. */
  readonly #progress = new Progress();
  #received = false;
  #silentFor = 0;
  #upstreamPaused = false;

  constructor(proxy: Proxy, engine: ExchangeHost, ctx: RequestContext, backend: Backend, retry: boolean) {
    this.#proxy = proxy;
    this.#engine = engine;
    this.#ctx = ctx;
    this.#req = ctx.req as FastRequest;
    this.#res = ctx.res as FastResponse;
    this.backend = backend;
    this.retry = retry;
    this.#upstream = engine.upstreamOf(backend);
    backend.startRequest();
    proxy.active++;
    if (retry) proxy.retrying++;
    ctx.upstream = this;
  }

  get beforeRequest(): boolean {
    return !this.#writing;
  }

  get beforeResponse(): boolean {
    return !this.#responded;
  }

  /** Asks for a connection; the request is written once there is one. */
  dispatch(head: UpstreamHead | undefined): void {
    const ctx = this.#ctx;
    const req = this.#req;
    this.head = head ?? makeHead(ctx, req, this, this.backend);
    this.hasBody = this.head.hasBody;
    this.host = this.head.host;
    this.dispatched = true;
    if (this.hasBody) this.#watch(UPLOADING);
    // A chunked body may break in the packet that brought its head: dispatching on the next
    // turn lets the parser refuse it (400) before anything of it goes upstream, as the node engine does.
    if (this.head.chunked && !req.complete) setImmediate(this.#acquire);
    else this.#acquire();
  }

  readonly #acquire = (): void => {
    if (!this.#finished) this.#upstream.acquire(this, this.#engine.tick);
  };

  connected(connection: UpstreamConnection): void {
    if (this.#finished) {
      this.#upstream.release(connection, connection.open, this.#engine.tick);
      return;
    }
    this.#connection = connection;
    this.#writing = true;
    const req = this.#req;
    const head = this.head!;
    const path = this.backend.pathPrefix !== '' ? this.backend.pathPrefix + req.url : req.url;
    const requestHead = `${req.method} ${path} HTTP/1.1\r\n${head.lines}`;
    if (!head.hasBody) {
      connection.writer.write(requestHead);
      this.#sent();
      return;
    }
    // The head and what is already here of the body in one write.
    const socket = connection.socket;
    socket.cork();
    socket.write(requestHead, 'latin1');
    const pending = req.pending;
    if (pending !== undefined) {
      req.pending = undefined;
      req.pendingBytes = 0;
      for (const chunk of pending) this.#writeBody(chunk);
    }
    if (!this.#finished) {
      req.sink = this;
      if (req.complete) this.bodyEnd();
      else this.#engine.resumeClient(req);
    }
    socket.uncork();
  }

  body(chunk: Buffer): boolean {
    return this.#writeBody(chunk);
  }

  bodyEnd(): void {
    if (this.#finished || this.#connection === undefined) return;
    if (this.head!.chunked) this.#connection.socket.write('0\r\n\r\n', 'latin1');
    this.#sent();
  }

  drained(): void {
    if (!this.#finished && !this.#req.complete) this.#engine.resumeClient(this.#req);
  }

  onHead(_minor: number, rawHeaders: string[], status: number, statusText: string, upgrade: boolean): boolean {
    if (status < 200 && !(status === 101 && upgrade)) return false;
    const proxy = this.#proxy;
    proxy.deadlines.remove(this);
    const ctx = this.#ctx;
    const res = this.#res;
    if (this.#finished) return true;
    const backend = this.backend;
    if (status >= 502 && status <= 504) {
      proxy.gatewayFailure(backend, `status ${status}`);
      if (proxy.retryStatus[status] === 1 && this.#retryOnStatus(status)) return true;
    } else {
      backend.failures = 0;
      if (proxy.retryStatus[status] === 1 && this.#retryOnStatus(status)) return true;
    }
    this.#responded = true;
    const now = performance.now();
    backend.observeLatency(now - ctx.startTime, now);
    if (status === 101) {
      this.#tunnel(statusText, rawHeaders);
      return true;
    }
    if (proxy.draining || ctx.head !== undefined) res.shouldKeepAlive = false;
    let lines = downstreamResponseLines(rawHeaders, ctx.id, headInfo);
    let date = headInfo.date;
    const extra = ctx.responseHeaders;
    if (extra !== undefined) {
      for (let i = 0; i < extra.length; i += 2) {
        lines += `${extra[i]}: ${extra[i + 1]}\r\n`;
        if (isHeader(extra[i]!, 'date')) date = true;
      }
    }
    if (ctx.explain !== undefined) lines += `x-lb-explain: ${proxy.explained(ctx, ctx.explain)}\r\n`;
    res.writeHeadLines(status, lines, date, headInfo.length ? Framing.Given : Framing.Chunked);
    if (this.#proxy.timeout > 0) this.#watch(RECEIVING);
    return this.#req.method === 'HEAD';
  }

  onBody(chunk: Buffer): void {
    if (this.#finished) return;
    this.#received = true;
    this.#ctx.bytes += chunk.length;
    const connection = this.#connection!;
    const more = this.#res.write(chunk);
    // Written but not all sent: the client's socket holds on to the chunk, a slice of the connection's read buffer.
    if (this.#res.writableLength > 0) connection.lend();
    if (more) return;
    connection.socket.pause();
    this.#upstreamPaused = true;
    if (this.#proxy.sendTimeout > 0 && this.#res.attached) {
      this.#progress.stalled(this.#res.writableLength);
      this.#watch(STALLED);
    }
  }

  onMessageEnd(): void {
    if (!this.#responded) return; // a 1xx
    const connection = this.#connection;
    if (!this.#finish(connection !== undefined && connection.keepAlive && this.#requestSent)) return;
    this.#res.end();
  }

  /** The client took some of its response: the backend's socket is read again. */
  clientDrained(): void {
    this.#unwatch(STALLED);
    if (this.#upstreamPaused && !this.#finished) {
      this.#upstreamPaused = false;
      this.#connection?.socket.resume();
    }
  }

  upgraded(rest: Buffer): void {
    if (rest.length > 0 && !this.#req.socket.destroyed) {
      this.#ctx.bytes += rest.length;
      this.#req.socket.write(rest);
    }
  }

  lost(err: Error): void {
    this.onError(err);
  }

  cancel(reason: Error): void {
    if (this.#finished) return;
    this.#connection?.destroy();
    this.#connection = undefined;
    this.onError(reason);
  }

  expire(): void {
    this.#timeout(new ProxyError('LB_ERR_UPSTREAM_TIMEOUT', `no response from backend within ${this.#proxy.timeout}ms`, { stage: this }));
  }

  onError(err: Error): void {
    const connection = this.#connection;
    this.#connection = undefined;
    if (!this.#finish(false)) return;
    connection?.destroy();
    const proxy = this.#proxy;
    const error = toProxyError(err, this);
    if (isGatewayFailure(error.code)) proxy.gatewayFailure(this.backend, error.message);
    const next = proxy.planRetry(this.#ctx, this, error);
    if (next !== undefined) proxy.retryOn(this.#ctx, this, next, error);
    else proxy.fail(this.#ctx, error);
  }

  sweep(elapsed: number): void {
    if ((this.#waiting & UPLOADING) !== 0) this.#sweepUpload(elapsed);
    if ((this.#waiting & STALLED) !== 0) this.#sweepStall(elapsed);
    if ((this.#waiting & RECEIVING) !== 0) this.#sweepReceive(elapsed);
  }

  #writeBody(chunk: Buffer): boolean {
    if (this.#finished) return true;
    this.#progress.bodyMoved = true;
    const ctx = this.#ctx;
    ctx.bytesIn += chunk.length;
    const head = this.head!;
    const socket = this.#connection!.socket;
    if (!head.chunked) return socket.write(chunk);
    const max = this.#proxy.maxBody;
    if (max > 0 && ctx.bytesIn > max) {
      this.#timeout(new ProxyError('LB_ERR_BODY_TOO_LARGE', `request body larger than ${max} bytes`, { stage: this }));
      return true;
    }
    socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    return socket.write('\r\n', 'latin1');
  }

  /** The whole request is on the wire: the backend's time to answer starts now. */
  #sent(): void {
    this.#requestSent = true;
    this.#unwatch(UPLOADING);
    if (this.#finished || this.#responded) return;
    this.deadline = performance.now() + this.#proxy.timeout;
    this.#proxy.deadlines.add(this);
  }

  #tunnel(statusText: string, rawHeaders: string[]): void {
    const ctx = this.#ctx;
    const connection = this.#connection!;
    const client = this.#req.socket;
    this.#finished = true;
    this.#unwatchAll();
    this.#connection = undefined;
    ctx.upstream = undefined;
    this.#proxy.active--;
    if (this.retry) this.#proxy.retrying--;
    if (client.destroyed) {
      connection.destroy();
      this.backend.endRequest();
      return;
    }
    ctx.tunnel = true;
    // The connection lets go of its socket once the parser has returned (see UpstreamConnection).
    const socket = connection.socket;
    openTunnel(ctx, client, socket, statusText, rawHeaders, this.#proxy.tunnelIdleTimeout, () => this.backend.endRequest());
  }

  #retryOnStatus(status: number): boolean {
    const error = new ProxyError('LB_ERR_UPSTREAM_STATUS', `backend answered ${status}`, { stage: this });
    const proxy = this.#proxy;
    const next = proxy.planRetry(this.#ctx, this, error);
    if (next === undefined) return false;
    const connection = this.#connection;
    this.#connection = undefined;
    this.#finish(false);
    connection?.destroy();
    queueMicrotask(() => proxy.retryOn(this.#ctx, this, next, error));
    return true;
  }

  #timeout(err: ProxyError): void {
    if (this.#finished) return;
    this.cancel(err);
  }

  /** A request body that does not move: whose fault, and for how long (see Progress). */
  #sweepUpload(elapsed: number): void {
    // Waiting on the client: its socket is being read (the backend is taking what it gets).
    const error = this.#progress.checkUpload(elapsed, !this.#req.complete && this.#connection !== undefined && this.#connection.socket.writableLength === 0, this.#proxy.bodyTimeout, this.#proxy.timeout, this);
    if (error !== undefined) this.#timeout(error);
  }

  /** A client that takes none of its response for CLIENT_SEND_TIMEOUT is cut, and the upstream request with it. */
  #sweepStall(elapsed: number): void {
    const error = this.#progress.checkStall(elapsed, this.#res.writableLength, this.#proxy.sendTimeout);
    if (error !== undefined) this.#timeout(error);
  }

  /** PROXY_TIMEOUT also bounds a pause within the response body (undici's bodyTimeout in the node engine). */
  #sweepReceive(elapsed: number): void {
    if (this.#received || this.#upstreamPaused) {
      this.#received = false;
      this.#silentFor = 0;
      return;
    }
    this.#silentFor += elapsed;
    if (this.#silentFor >= this.#proxy.timeout) {
      this.#timeout(new ProxyError('LB_ERR_UPSTREAM_TIMEOUT', `backend sent none of its response body for ${this.#proxy.timeout}ms`, { stage: this }));
    }
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

  /** Ends the try once, its connection kept for the next (`reusable`) or closed; false when it had ended. */
  #finish(reusable: boolean): boolean {
    if (this.#finished) return false;
    this.#finished = true;
    this.#unwatchAll();
    this.#ctx.upstream = undefined;
    if (this.#req.sink === this) this.#req.sink = undefined;
    this.backend.endRequest();
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection !== undefined) this.#upstream.release(connection, reusable, this.#engine.tick);
    const proxy = this.#proxy;
    proxy.active--;
    if (this.retry) proxy.retrying--;
    if (proxy.queued > 0) proxy.scheduleDrain();
    return true;
  }
}

/** The request's head for backends: the node engine's header rewriting, as one string. */
function makeHead(ctx: RequestContext, req: FastRequest, info: RequestHeaderInfo, backend: Backend): UpstreamHead {
  const upgrade = ctx.head !== undefined;
  let lines = upstreamRequestLines(req.rawHeaders, ctx.clientIp, ctx.proto, ctx.id, info, upgrade, req.connection ?? { forwardingHost: undefined, forwardingLines: '' });
  if (info.host === undefined) lines += `host: ${new URL(backend.origin).host}\r\n`;
  const chunked = info.hasBody && req.header('content-length') === undefined;
  if (chunked) lines += 'transfer-encoding: chunked\r\n';
  return { lines: `${lines}\r\n`, hasBody: info.hasBody, chunked, host: info.host };
}


