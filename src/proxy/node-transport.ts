import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Transform, type Duplex, type Readable } from 'node:stream';
import type { Client, Dispatcher } from 'undici';
import type { ContextResponse, RequestContext } from '../context/index.js';
import type { Backend, BackendTls } from '../pool/index.js';
import { backendConnector } from '../tls/backend-tls.js';
import { Attempt } from './attempt.js';
import { CLIENT_CLOSED, ProxyError, toProxyError } from '../errors/index.js';
import { acceptsTrailers, discardableBody, downstreamResponseHeaders, rawTrailers, trailersEndConnection, upstreamRequestHeaders, type RequestHeaderInfo } from './headers.js';
import { NO_CONNECTIONS, type ConnectionStats, type Stream, type Transport, type TransportOptions } from './transport.js';
import { openTunnel } from './tunnel.js';
import { IdleKeeper } from './idle-pool.js';
import { endResponse, listHead, relayHead, type RelaySink } from './response-relay.js';
import { UpstreamPool } from './upstream-pool.js';
import { outgoingProxyHeader } from '../edge/proxy-send.js';

export interface NodeTransportOptions extends TransportOptions {
  /** The longest pause allowed within a response body (PROXY_TIMEOUT), undici's `bodyTimeout`. */
  readonly timeout: number;
}

/**
 * The node transport: requests that node:http received go to backends through undici, one
 * keep-alive pool of undici clients per backend (attached when the backend joins, closed when it
 * has left and drained). Response-header time is the attempt's deadline; pauses within a
 * response body are undici's `bodyTimeout`.
 */
export class NodeTransport implements Transport {
  readonly name = 'node';
  readonly #pools = new Map<string, UpstreamPool>();
  readonly #keeper: IdleKeeper;
  readonly #maxIdle: number;
  readonly #client: Client.Options;
  readonly #maxBody: number;
  readonly #tunnelIdle: number;
  readonly #tls: BackendTls | undefined;
  readonly #connectTimeout: number;
  /** Connectors of the pools with TLS settings of their own (`tls:`), one per settings object. */
  readonly #connectors = new WeakMap<BackendTls, Client.Options['connect']>();

  constructor(options: NodeTransportOptions) {
    this.#keeper = new IdleKeeper(options.maxIdle, options.idleTimeout);
    this.#maxIdle = options.maxIdlePerBackend;
    this.#maxBody = options.maxBodySize;
    this.#tunnelIdle = options.tunnelIdleTimeout;
    this.#tls = options.tls;
    this.#connectTimeout = options.connectTimeout;
    this.#client = {
      pipelining: 1,
      keepAliveTimeout: options.idleTimeout,
      keepAliveMaxTimeout: options.idleTimeout,
      headersTimeout: 0,
      bodyTimeout: options.timeout,
      // Each connection takes the TLS files as they are when it opens (they are reloaded on change).
      connect: backendConnector(options.tls, options.connectTimeout),
      // A Content-Length mismatch is an error, not a warning.
      strictContentLength: true,
    };
  }

  attach(backend: Backend): void {
    if (!this.#pools.has(backend.id)) {
      const tls = backend.tls;
      let client = this.#client;
      if (tls !== undefined && tls !== this.#tls) {
        let connect = this.#connectors.get(tls);
        if (connect === undefined) this.#connectors.set(tls, connect = backendConnector(tls, this.#connectTimeout));
        client = { ...client, connect };
      }
      this.#pools.set(backend.id, new UpstreamPool(backend.origin, { maxIdle: this.#maxIdle, keeper: this.#keeper, client }));
    }
  }

  async detach(backend: Backend, cut?: Error): Promise<void> {
    const pool = this.#pools.get(backend.id);
    this.#pools.delete(backend.id);
    if (pool !== undefined) await (cut === undefined ? pool.close() : pool.destroy(cut));
  }

  async cut(reason: Error): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.destroy(reason)));
  }

  setTimeout(ms: number): void {
    this.#client.bodyTimeout = ms;
    for (const pool of this.#pools.values()) pool.setBodyTimeout(ms);
  }

  connections(backend: Backend): ConnectionStats {
    const stats = this.#pools.get(backend.id)?.stats;
    return stats ?? NO_CONNECTIONS;
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    this.#keeper.stop();
    await Promise.all(pools.map((p) => p.close()));
  }

  send(attempt: Attempt, retryOf: Attempt | undefined): void {
    // Every backend in the pool has its connections from the moment it is added until it has
    // been removed and drained, which cannot happen while a request is in flight to it.
    const pool = this.#pools.get(attempt.backend.id)!;
    const previous = retryOf?.stream as NodeStream | undefined;
    const stream = new NodeStream(attempt, pool, this.#tunnelIdle);
    attempt.stream = stream;
    if (previous !== undefined) {
      attempt.hasBody = previous.options.body !== null || retryOf!.hasBody;
      stream.dispatch(retried(previous.options, attempt));
      return;
    }
    const ctx = attempt.ctx;
    const req = ctx.req as IncomingMessage;
    const info: RequestHeaderInfo = { host: undefined, hasBody: false, dropTraceparent: false };
    const headers = tryHeaders(attempt, info);
    // An HTTP/2 stream needs no Content-Length: the stream says whether a body follows.
    const stream2 = (req as { stream?: { endAfterHeaders: boolean } }).stream;
    if (stream2 !== undefined && !stream2.endAfterHeaders) info.hasBody = true;
    attempt.hasBody = info.hasBody;
    const chunked = info.hasBody && stream2 === undefined && req.headers['content-length'] === undefined;
    const options: Dispatcher.DispatchOptions = {
      path: backendPath(attempt),
      method: req.method ?? 'GET',
      headers,
      body: info.hasBody && !chunked ? req : null,
    };
    // An Upgrade (WebSocket): undici sends `Upgrade` and `Connection: upgrade` itself and hands
    // the connection over on a 101; any other answer is relayed as a normal response.
    if (ctx.upgrade) options.upgrade = req.headers.upgrade ?? 'websocket';
    if (chunked) {
      // node:http hands over a request as soon as its head is parsed; the rest of the packet (a
      // broken first chunk, say) is parsed right after. Dispatching on the next tick means such
      // a request is refused (400) before anything of it is sent upstream.
      setImmediate(dispatchChecked, options, stream, req, this.#maxBody);
    } else {
      stream.dispatch(options);
    }
  }
}

/**
 * One request through undici: its dispatch handler, on one connection taken from the backend's
 * pool and handed back when it ends. It writes the response into node:http's response as it
 * arrives and pauses undici while the client is slow.
 */
class NodeStream implements Dispatcher.DispatchHandler, Stream, RelaySink<string[] | null> {
  /** What was dispatched: a retry sends the same to another backend. */
  options!: Dispatcher.DispatchOptions;
  readonly #attempt: Attempt;
  readonly #ctx: RequestContext;
  readonly #res: ContextResponse;
  readonly #pool: UpstreamPool;
  readonly #tunnelIdle: number;
  #connection: Dispatcher | undefined = undefined;
  #abort: ((err: Error) => void) | undefined = undefined;
  /** A reason to abort with as soon as undici hands over its abort function. */
  #cancelled: Error | undefined = undefined;
  #resume: (() => void) | undefined = undefined;
  #done = false;

  constructor(attempt: Attempt, pool: UpstreamPool, tunnelIdle: number) {
    this.#attempt = attempt;
    this.#ctx = attempt.ctx;
    this.#res = attempt.ctx.res as ContextResponse;
    this.#pool = pool;
    this.#tunnelIdle = tunnelIdle;
  }

  get waitingOnClient(): boolean {
    const req = this.#ctx.req as IncomingMessage;
    return !req.complete && req.readableFlowing === true;
  }

  get unsent(): number {
    return this.#res.writableLength;
  }

  /** Sends the request on a connection of the backend's pool. */
  dispatch(options: Dispatcher.DispatchOptions): void {
    this.options = options;
    const attempt = this.#attempt;
    if (attempt.ended) return;
    attempt.dispatched = true;
    if (attempt.hasBody) attempt.uploading();
    const backend = attempt.backend;
    const connection = this.#connection = this.#pool.acquire(backend.proxyProtocol === 'off' ? undefined
      : outgoingProxyHeader(this.#ctx.socket, this.#ctx.clientIp, backend.proxyProtocol === 'v1' ? 1 : 2));
    if (attempt.span !== undefined) attempt.span.reused = this.#pool.reused;
    connection.dispatch(options, this);
  }

  reset(reason: Error): void {
    const abort = this.#abort;
    this.#abort = undefined;
    if (abort !== undefined) abort(reason);
    else if (!this.#done) this.#cancelled ??= reason;
  }

  /** The client took some of its response: undici may go on, once no parser is running. */
  drained(): void {
    const attempt = this.#attempt;
    attempt.clientDrained();
    if (attempt.relay?.drained() === true) return;
    // node:http can emit 'drain' synchronously while undici is inside another connection's
    // parser (a pipelined response taking over the socket); undici's parsers must not be
    // re-entered, so the resume waits until that call stack has unwound.
    if (this.#resume !== undefined && !this.#done) queueMicrotask(this.#resume);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.#cancelled !== undefined) {
      abort(this.#cancelled);
      return;
    }
    this.#abort = abort;
    this.#attempt.writing();
  }

  /** undici 7 passes the chunk written (its typings say a size: either is counted). */
  onBodySent(chunk: Buffer | string | number): void {
    if (typeof chunk === 'number') this.#attempt.bodySent(chunk);
    else this.#attempt.bodySent(chunk.length, chunk);
  }

  onRequestSent(): void {
    this.#attempt.requestSent();
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    const res = this.#res;
    if (res.destroyed || !this.#attempt.responded(statusCode)) return false;
    this.#resume = resume;
    const ctx = this.#ctx;
    if (this.#attempt.closing) res.shouldKeepAlive = false;
    // An early answer (the request body still coming) to a body too large or unbounded to read
    // and drop afterwards: the connection closes once the response has gone.
    // (HTTP/1.x only: an HTTP/2 stream's early answer leaves the connection's other streams alone.)
    const req = ctx.req as IncomingMessage;
    if (req.httpVersionMajor === 1 && !req.complete && !discardableBody(req.headers['content-length'])) res.shouldKeepAlive = false;
    // A hook holding the head (an asynchronous onResponse): undici pauses until the relay's `ready`
    // (what it gives meanwhile, a HEAD's end say, which it does not pause for, the relay keeps).
    return relayHead(this.#attempt, this, statusCode, downstreamResponseHeaders(rawHeaders, ctx.id));
  }

  get clientGone(): boolean {
    return this.#res.destroyed;
  }

  sendHead(statusCode: number, headers: string[]): void {
    this.#res.writeHead(statusCode, listHead(this.#attempt, this, statusCode, headers));
  }

  onData(chunk: Buffer): boolean {
    // undici's chunks are not reused: the relay (a held head, the compressor) may hold on to them.
    const relay = this.#attempt.relay;
    return relay !== undefined ? relay.data(chunk) : this.output(chunk);
  }

  /** The response is complete, with the backend's trailers when it sent some (a chunked response; undici gives latin1 bytes, its typings say strings). */
  onComplete(trailers?: string[] | null): void {
    const req = this.#ctx.req as IncomingMessage;
    // HTTP/1.x only: an HTTP/2 request's stream is not the connection (and node:http2 ends it itself).
    if (req.httpVersionMajor === 1 && !req.complete) keepBody(req);
    // Closed rather than kept (undici would reuse it): see trailersEndConnection.
    if (trailers != null && trailers.length > 0 && trailersEndConnection(trailers)) this.#connection?.close().catch(() => undefined);
    this.#release();
    endResponse(this.#attempt, this, trailers);
  }

  /** Body bytes for the client (compressed or not); false when it is full (the backend or the compressor waits for its drain). */
  output(chunk: Buffer): boolean {
    const res = this.#res;
    this.#ctx.bytes += chunk.length;
    if (res.write(chunk)) return true;
    res.once('drain', onClientDrain);
    // A pipelined response queued behind another has no socket yet: the one in front is the
    // one the client is (or is not) reading, and it is watched.
    this.#attempt.stalled(res.socket !== null);
    return false;
  }

  /** A held head has gone, or the compressor takes more: undici may go on. */
  ready(): void {
    if (this.#resume !== undefined && !this.#done) queueMicrotask(this.#resume);
  }

  failed(err: Error): void {
    this.#attempt.failed(toProxyError(err, this.#attempt));
  }

  sendEnd(trailers: string[] | null | undefined): void {
    const res = this.#res;
    const req = this.#ctx.req;
    if (trailers != null && trailers.length > 0 && acceptsTrailers(req.rawHeaders, req.httpVersionMajor)) res.addTrailers(rawTrailers(trailers));
    res.end();
  }

  /**
   * The backend switched protocols: the client's connection and this one become a tunnel. The
   * backend connection is the tunnel's now (undici lets go of it); the request ends when the
   * tunnel closes, with its access line.
   */
  onUpgrade(_statusCode: number, rawHeaders: Buffer[], socket: Duplex): void {
    this.#release();
    const attempt = this.#attempt;
    const res = this.#res;
    const client = res.socket;
    if (attempt.ended || client === null || client.destroyed || !attempt.responded(101)) {
      socket.destroy();
      attempt.failed(toProxyError(CLIENT_CLOSED, attempt)); // ignored when it had already ended (a timeout, say)
      return;
    }
    attempt.upgraded();
    this.#ctx.tunnel = true;
    // From here the client's socket is written raw: the response object lets go of it.
    res.detachSocket(client);
    openTunnel(this.#ctx, client, socket, 'Switching Protocols', rawHeaders, this.#tunnelIdle, () => {
      attempt.tunnelClosed();
      // The response never ends for a tunnel: its close is the request's end (one access line).
      res.emit('close');
    });
  }

  onError(err: Error): void {
    this.#release();
    this.#attempt.failed(toProxyError(err, this.#attempt));
  }

  /** Hands the connection back to the pool, once. */
  #release(): void {
    if (this.#done) return;
    this.#done = true;
    this.#abort = undefined;
    if (this.#connection !== undefined) this.#pool.release(this.#connection);
  }
}

/** A response paused on can take more: shared by every stream, no closure each. */
function onClientDrain(this: ContextResponse): void {
  const attempt = this.context?.attempt;
  if (attempt instanceof Attempt && attempt.stream instanceof NodeStream) attempt.stream.drained();
}

/** The request's path on this try's backend (its path prefix first). */
function backendPath(attempt: Attempt): string {
  const prefix = attempt.backend.pathPrefix;
  const url = attempt.ctx.path;
  return prefix !== '' ? prefix + url : url;
}

/**
 * This try's header list for its backend: the client's fields rewritten (upstreamRequestHeaders,
 * what it found noted in `info`), the client certificate's X-Forwarded-Client-Cert, and for a
 * traced request this try's span as the backend's parent, last, so that a retry on the same
 * head replaces it alone (see `retried`).
 */
function tryHeaders(attempt: Attempt, info: RequestHeaderInfo): string[] {
  const ctx = attempt.ctx;
  const span = attempt.span;
  info.dropTraceparent = span !== undefined;
  const headers = upstreamRequestHeaders(ctx.req.rawHeaders, ctx.clientIp, ctx.proto, ctx.id, info, false, ctx.clientCertificate?.xfcc);
  if (span !== undefined) headers.push('traceparent', span.traceparent);
  return headers;
}

/**
 * A retry's options, with the same body: its head made anew when a hook's onUpstreamRequest
 * edited it for this try, else the same head with this try's path prefix and `traceparent`.
 */
function retried(options: Dispatcher.DispatchOptions, attempt: Attempt): Dispatcher.DispatchOptions {
  const path = backendPath(attempt);
  if (attempt.newHead) return { ...options, path, headers: tryHeaders(attempt, { host: undefined, hasBody: false, dropTraceparent: false }) };
  const span = attempt.span;
  if (span === undefined) return { ...options, path };
  const headers = [...(options.headers as string[])];
  headers[headers.length - 1] = span.traceparent;
  return { ...options, path, headers };
}

/** A chunked body passed through a byte counter that fails the attempt (413) past `max`. */
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
function dispatchChecked(options: Dispatcher.DispatchOptions, stream: NodeStream, req: IncomingMessage, maxBody: number): void {
  const socket = req.socket as Socket | null;
  if (socket === null || socket.destroyed || socket.writableEnded) {
    stream.onError(CLIENT_CLOSED);
    return;
  }
  options.body = maxBody > 0 ? limitBody(req, maxBody) : req;
  stream.dispatch(options);
}

/**
 * The response ended before the request body (the backend answered early): undici stops
 * writing it and destroys the backend connection, and then the body stream, which would reset
 * the client before it has read its response. The body stays ours instead: what remains is read
 * and dropped (node:http then reads the next request, or closes after a `Connection: close`).
 */
function keepBody(req: IncomingMessage): void {
  req.destroy = keptBody;
  // A listener of its own, so that node:http hands each chunk straight over (an unheard stream
  // would buffer, and stop the socket for good once node:http has let go of it).
  req.removeAllListeners('data');
  req.on('data', dropChunk);
  req.resume();
  // The socket's reading was stopped for the backend (backpressure); node:http lets go of the
  // request's socket when the response finishes, after which `resume` would no longer reach it.
  req.socket.resume();
}

/** `destroy` of a body kept after an early response (see keepBody): nothing to do. */
function keptBody(this: IncomingMessage): IncomingMessage {
  return this;
}

/** A chunk of a body kept after an early response: dropped. */
function dropChunk(): void {}
