import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Backend } from '../pool/index.js';
import type { Attempt } from './attempt.js';
import { ProxyError } from '../errors/index.js';
import { acceptsTrailers, h2RequestHeaders, type RequestHeaderInfo } from './headers.js';
import type { H2SessionOptions } from './h2-session.js';
import { H2Sessions } from './h2-sessions.js';
import { H2Stream } from './h2-stream.js';
import { negotiate, type NegotiateDone } from './alpn.js';
import { NO_CONNECTIONS, type ConnectionStats, type Transport, type TransportOptions } from './transport.js';

export interface H2TransportOptions extends TransportOptions {
  /** A session nothing has come from for this long is PINGed, ms (30 s by default). */
  readonly pingInterval?: number;
}

/**
 * The h2 transport: requests to backends that speak HTTP/2 (`proto` h2c or h2, or `auto` when
 * ALPN chose h2), each request one stream, multiplexed on a few sessions per backend (see
 * H2Sessions). It also learns what an `auto` backend speaks (`negotiate`). Every stream is an
 * attempt like any other: picked, counted, timed and retried per request, so one client
 * connection's requests spread over the pool however many of them share a backend session. It
 * serves requests node:http (or node:http2) received; the fast engine's requests need ENGINE=node.
 */
export class H2Transport implements Transport {
  readonly name = 'h2';
  readonly #backends = new Map<string, H2Sessions>();
  readonly #options: H2SessionOptions;
  readonly #maxBody: number;
  readonly #maxSessions: number;

  constructor(options: H2TransportOptions) {
    this.#maxBody = options.maxBodySize;
    this.#maxSessions = options.maxIdlePerBackend;
    this.#options = {
      connectTimeout: options.connectTimeout,
      idleTimeout: options.idleTimeout,
      pingInterval: options.pingInterval ?? 30_000,
      tls: options.tls,
    };
  }

  attach(backend: Backend): void {
    if (this.#backends.has(backend.id)) return;
    // A pool's own TLS (`tls:`) for its backends' sessions.
    const options = backend.tls === undefined || backend.tls === this.#options.tls ? this.#options : { ...this.#options, tls: backend.tls };
    this.#backends.set(backend.id, new H2Sessions(backend, options, this.#maxSessions, relearn));
  }

  /**
   * Learns what `backend` (an `auto` https:// one) speaks: a TLS connection offering h2 and
   * http/1.1 by ALPN. When h2 is chosen the connection becomes the backend's first session.
   */
  negotiate(backend: Backend, done: NegotiateDone): void {
    negotiate(backend.origin, backend.tls ?? this.#options.tls, this.#options.connectTimeout, (result, socket) => {
      if (socket !== undefined) {
        const sessions = this.#backends.get(backend.id);
        // Detached meanwhile: nothing will use the connection.
        if (sessions === undefined) socket.destroy();
        else sessions.open(socket);
      }
      done(result, socket);
    });
  }

  async detach(backend: Backend, cut?: Error): Promise<void> {
    const sessions = this.#backends.get(backend.id);
    this.#backends.delete(backend.id);
    if (sessions === undefined) return;
    sessions.close(cut);
    await sessions.closed();
  }

  async cut(reason: Error): Promise<void> {
    const all = [...this.#backends.values()];
    this.#backends.clear();
    for (const sessions of all) sessions.close(reason);
    await Promise.all(all.map((s) => s.closed()));
  }

  setTimeout(): void {
    // PROXY_TIMEOUT is the attempt's: its deadline and its sweep of pauses in a response body.
  }

  connections(backend: Backend): ConnectionStats {
    return this.#backends.get(backend.id)?.stats ?? NO_CONNECTIONS;
  }

  async close(): Promise<void> {
    await this.cut(new ProxyError('LB_ERR_SHUTDOWN', 'the transport closed'));
  }

  send(attempt: Attempt, _retryOf: Attempt | undefined): void {
    const ctx = attempt.ctx;
    const req = ctx.req as IncomingMessage;
    attempt.dispatched = true;
    if (!(req instanceof Readable)) {
      // The fast engine's requests are not node streams; its listeners and h2 backends do not meet (see LoadBalancer).
      attempt.failed(new ProxyError('LB_ERR_INTERNAL', 'HTTP/2 backends take requests from the node engine only (ENGINE=node)', { stage: attempt }));
      return;
    }
    if (ctx.upgrade) {
      // An upgrade over HTTP/2 is an extended CONNECT (RFC 8441), which this transport does not speak yet.
      attempt.failed(new ProxyError('LB_ERR_INTERNAL', 'protocol upgrades (WebSocket) to HTTP/2 backends are not supported', { stage: attempt }));
      return;
    }
    const backend = attempt.backend;
    const url = req.url ?? '/';
    const info: RequestHeaderInfo = { host: undefined, hasBody: false, dropTraceparent: attempt.span !== undefined };
    const scheme = backend.origin.startsWith('https:') ? 'https' : 'http';
    const headers = h2RequestHeaders(req.rawHeaders, ctx.clientIp, ctx.proto, ctx.id, info, req.method ?? 'GET',
      backend.pathPrefix !== '' ? backend.pathPrefix + url : url, scheme, backend.origin.slice(scheme.length + 3), ctx.clientCertificate?.xfcc);
    if (attempt.span !== undefined) headers.traceparent = attempt.span.traceparent;
    // An HTTP/2 client's stream says whether a body follows; an HTTP/1.1 request declares it.
    const stream2 = (req as { stream?: { endAfterHeaders: boolean } }).stream;
    attempt.hasBody = stream2 !== undefined ? !stream2.endAfterHeaders : info.hasBody;
    if (attempt.hasBody) attempt.uploading();
    const stream = new H2Stream(attempt, headers, this.#maxBody, acceptsTrailers(req.rawHeaders, req.httpVersionMajor));
    attempt.stream = stream;
    this.#backends.get(backend.id)!.place(stream);
  }
}

/** An `auto` backend whose h2 connection could not be made learns its protocol again on its next request. */
function relearn(backend: Backend): void {
  if (backend.proto === 'auto') backend.negotiate(undefined);
}
