import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Backend } from '../pool/index.js';
import type { Attempt } from './attempt.js';
import { ProxyError } from '../errors/index.js';
import { acceptsTrailers, h2RequestHeaders, type RequestHeaderInfo } from './headers.js';
import { H2Session, type H2SessionOptions, type SessionOwner } from './h2-session.js';
import { H2Stream } from './h2-stream.js';
import { NO_CONNECTIONS, type ConnectionStats, type Transport, type TransportOptions } from './transport.js';

export interface H2TransportOptions extends TransportOptions {
  /** How often an idle session is PINGed, ms (30 s by default). */
  readonly pingInterval?: number;
}

/** The sessions of one backend: a new one opens when every open one is at the backend's stream limit. */
class H2Backend implements SessionOwner {
  readonly sessions: H2Session[] = [];
  readonly #origin: string;
  readonly #options: H2SessionOptions;

  constructor(origin: string, options: H2SessionOptions) {
    this.#origin = origin;
    this.#options = options;
  }

  /** A session with room for one more stream: the oldest that has some (so the others can go idle and close). */
  take(): H2Session {
    for (const session of this.sessions) if (session.hasRoom) return session;
    const session = new H2Session(this.#origin, this, this.#options);
    this.sessions.push(session);
    return session;
  }

  forget(session: H2Session): void {
    const i = this.sessions.indexOf(session);
    if (i >= 0) this.sessions.splice(i, 1);
    this.#closing.add(session);
    session.session.once('close', () => this.#closing.delete(session));
  }

  /** Sessions out of use that still finish their streams. */
  readonly #closing = new Set<H2Session>();

  get stats(): ConnectionStats {
    let busy = 0;
    let open = 0;
    for (const session of [...this.sessions, ...this.#closing]) {
      if (session.session.destroyed) continue;
      open++;
      if (session.streams.size > 0) busy++;
    }
    return { open, busy, idle: open - busy };
  }

  close(cut?: Error): void {
    for (const session of [...this.sessions, ...this.#closing]) session.close(cut);
  }

  /** Resolves once every session has closed. */
  async closed(): Promise<void> {
    await Promise.all([...this.sessions, ...this.#closing].map((s) => s.session.closed ? undefined : new Promise((resolve) => s.session.once('close', resolve))));
  }
}

/**
 * The h2 transport: requests to backends that speak HTTP/2 (`proto` h2c or h2), each request
 * one stream, multiplexed on a few sessions per backend (a new one when the open ones are at the
 * backend's SETTINGS_MAX_CONCURRENT_STREAMS). Every stream is an attempt like any other: picked,
 * counted, timed and retried per request, so one client connection's requests spread over the
 * pool however many of them share a backend session. It serves requests node:http (or
 * node:http2) received; the fast engine's requests need ENGINE=node.
 */
export class H2Transport implements Transport {
  readonly name = 'h2';
  readonly #backends = new Map<string, H2Backend>();
  readonly #options: H2SessionOptions;
  readonly #maxBody: number;

  constructor(options: H2TransportOptions) {
    this.#maxBody = options.maxBodySize;
    this.#options = {
      connectTimeout: options.connectTimeout,
      idleTimeout: options.idleTimeout,
      pingInterval: options.pingInterval ?? 30_000,
      tls: options.tls,
    };
  }

  attach(backend: Backend): void {
    if (!this.#backends.has(backend.id)) this.#backends.set(backend.id, new H2Backend(backend.origin, this.#options));
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
    const sessions = this.#backends.get(backend.id)!;
    const url = req.url ?? '/';
    const info: RequestHeaderInfo = { host: undefined, hasBody: false };
    const scheme = backend.origin.startsWith('https:') ? 'https' : 'http';
    const headers = h2RequestHeaders(req.rawHeaders, ctx.clientIp, ctx.proto, ctx.id, info, req.method ?? 'GET',
      backend.pathPrefix !== '' ? backend.pathPrefix + url : url, scheme, backend.origin.slice(scheme.length + 3));
    // An HTTP/2 client's stream says whether a body follows; an HTTP/1.1 request declares it.
    const stream2 = (req as { stream?: { endAfterHeaders: boolean } }).stream;
    attempt.hasBody = stream2 !== undefined ? !stream2.endAfterHeaders : info.hasBody;
    if (attempt.hasBody) attempt.uploading();
    const session = sessions.take();
    const stream = new H2Stream(attempt, session, headers, this.#maxBody, acceptsTrailers(req.rawHeaders, req.httpVersionMajor));
    attempt.stream = stream;
    session.add(stream);
  }
}
