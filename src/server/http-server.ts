import { createServer, type IncomingMessage, type Server, type ServerOptions } from 'node:http';
import {
  constants as h2, createSecureServer, createServer as createH2cServer, Http2ServerRequest,
  type Http2Server, type Http2ServerResponse, type Http2Session, type ServerHttp2Session, type ServerHttp2Stream,
} from 'node:http2';
import { Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import { ContextResponse, RequestContext } from '../context/index.js';
import type { Chain } from '../middleware/index.js';
import { CLIENT_CLOSED } from '../proxy/index.js';
import { isGrpcRequest, writeGrpcAnswer } from '../proxy/grpc.js';
import {
  DEFAULT_LIMITS, headRefusal, InFlight, listenOn, stopListening, parseErrorStatus, PipelineGate, VERSION_NOT_SUPPORTED, versionProblem, writeRawError,
  type ClientLimits, type Listener, type Refusal,
} from '../http1/index.js';
import { guardSession } from './h2-guard.js';
import { h2ServerOptions } from './h2-options.js';
import { serveH2cBeside } from './h2c.js';
import { readProxyHeaderBeforeTls, type ProxyGate } from '../edge/proxy-gate.js';


export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly limits?: ClientLimits;
  /** Certificates (SNICallback), versions and client certificates: the listener speaks HTTPS (TLS 1.2 at least unless `minVersion` says). */
  readonly tls?: TlsOptions;
  /** Answer every request with a 308 to https on the port this returns instead of proxying it. */
  readonly redirectToPort?: () => number;
  /** PROXY_PROTOCOL: the PROXY header is read off each connection first (TLS listeners, and plain ones that serve h2c beside HTTP/1.1). */
  readonly proxyGate?: ProxyGate;
  /** A redirecting listener answers ACME HTTP-01 requests still: true when this answered one. */
  readonly challengeAnswer?: (req: IncomingMessage, res: ContextResponse) => boolean;
  /** WORKER_LISTEN=reuseport: this process binds its own SO_REUSEPORT socket (see listenOn). */
  readonly reusePort?: boolean;
}

type AnyServer = Server<typeof IncomingMessage, typeof ContextResponse>;

/**
 * A client-facing listener: plain HTTP/1.1 and h2c (HTTP/2 with prior knowledge, told apart by
 * the connection's first bytes), or TLS with HTTP/2 and HTTP/1.1 (ALPN). Creates a
 * RequestContext per request (an Upgrade too: it goes through the same chain and proxy), runs the
 * chain, drains on shutdown. node:http's parser (llhttp)
 * is strict; `framingProblem` refuses the little it lets through.
 */
export class HttpListener implements Listener {
  readonly engine = 'node';
  readonly server: AnyServer;
  readonly proto: 'http' | 'https';
  readonly #options: ListenerOptions;
  readonly #log: Logger;
  readonly #limits: ClientLimits;
  readonly #inFlight = new InFlight();
  #draining = false;
  /** Connections handed over by an Upgrade: node:http no longer tracks them, so this does. */
  readonly #upgraded = new Set<Socket>();
  /** Open HTTP/2 sessions: told to finish (GOAWAY) on drain, destroyed at the timeout. */
  readonly #sessions = new Set<Http2Session>();
  /** A plain listener's HTTP/2 side: connections that open with the preface are its. */
  readonly #h2c: Http2Server | undefined;

  constructor(chain: Chain, options: ListenerOptions, log: Logger) {
    this.#options = options;
    this.#log = log;
    const limits = this.#limits = options.limits ?? DEFAULT_LIMITS;
    this.proto = options.tls === undefined ? 'http' : 'https';
    const serverOptions: ServerOptions<typeof IncomingMessage, typeof ContextResponse> = {
      ServerResponse: ContextResponse,
      keepAliveTimeout: limits.idleTimeout,
      maxHeaderSize: limits.maxHeaderSize,
      headersTimeout: limits.headerTimeout,
      // Checks for the header timeout run this often (node's default, 30 s, is too coarse).
      connectionsCheckingInterval: Math.min(1000, Math.max(50, limits.headerTimeout / 4)),
      // The whole-request timeout would cut long uploads and downloads; PROXY_TIMEOUT bounds the backend.
      requestTimeout: 0,
      requireHostHeader: true,
    };
    let h2server: NodeJS.EventEmitter | undefined;
    if (options.tls === undefined) {
      this.server = createServer(serverOptions);
      // A redirecting listener sends HTTP/1.1 clients to https; h2c is for those that proxy.
      if (options.redirectToPort === undefined) {
        h2server = this.#h2c = createH2cServer(h2ServerOptions(limits));
        serveH2cBeside(this.server, {
          h2: (socket) => this.serveH2c(socket),
          stalled: (socket) => {
            this.#log.info({ code: 'ERR_HTTP_REQUEST_TIMEOUT', status: 408, client: socket.remoteAddress }, 'rejected malformed request');
            writeRawError(socket, 408);
            socket.destroySoon();
          },
        }, limits.headerTimeout, options.proxyGate);
      }
    } else {
      // One TLS listener for both protocols: ALPN offers h2 and http/1.1; HTTP/1.1 connections get
      // node:http's parser and the same options as the plain listener.
      const secure = createSecureServer({
        minVersion: 'TLSv1.2',
        ...options.tls,
        allowHTTP1: true,
        Http1ServerResponse: ContextResponse as never,
        ...h2ServerOptions(limits),
      });
      Object.assign(secure, {
        keepAliveTimeout: limits.idleTimeout,
        maxHeaderSize: limits.maxHeaderSize,
        headersTimeout: limits.headerTimeout,
        requestTimeout: 0,
        connectionsCheckingInterval: serverOptions.connectionsCheckingInterval,
        requireHostHeader: true,
      });
      this.server = secure as unknown as AnyServer;
      h2server = secure;
      if (options.proxyGate !== undefined) readProxyHeaderBeforeTls(secure, options.proxyGate, limits.headerTimeout);
    }
    // The HTTP/2 sessions of either: over TLS (ALPN h2) or h2c.
    h2server?.on('session', (session: Http2Session) => {
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
      guardSession(session as ServerHttp2Session, limits.h2MaxConcurrentStreams, this.#log);
      // node:http2 has no idle timeout of its own, and a session whose peer sent a broken
      // frame and then FIN can sit in CLOSE-WAIT for good. No frame either way for
      // CLIENT_IDLE_TIMEOUT: GOAWAY, and the session ends once its streams have.
      session.setTimeout(limits.idleTimeout, () => closeIdleSession(session, limits.idleTimeout));
      if (this.#draining) session.close();
    });
    // node keeps one header past the limit, so that more than the limit is visible (and refused).
    this.server.maxHeadersCount = limits.maxHeaders + 1;
    if (limits.maxConnections > 0) this.server.maxConnections = limits.maxConnections;
    this.server.on('drop', (data?: { remoteAddress?: string }) => {
      this.#log.warn({ client: data?.remoteAddress, maxConnections: limits.maxConnections }, 'connection refused: MAX_CONNECTIONS reached');
    });

    const listener = this;
    const proto = this.proto;
    // One close listener for every response: created once, it finds its request through res.context.
    const onClose = function (this: ContextResponse): void {
      // Once: a pipelined response whose connection died is ended here by the request's close,
      // and node 26 also emits its own close for it.
      if (this.ended) return;
      this.ended = true;
      const ctx = this.context!;
      const gate = gateOf(ctx.req.socket);
      if (gate !== undefined && !gate.drop(ctx)) {
        const next = gate.ended();
        if (next !== undefined) run(next);
      }
      // writableEnded, not writableFinished: HTTP/2 responses report a reset stream as finished.
      // A tunnel's response never ends: its close is the tunnel's.
      if (!this.writableEnded && !ctx.tunnel) ctx.abort(CLIENT_CLOSED);
      try {
        chain.end(ctx);
      } catch (err) {
        log.error({ err, reqId: ctx.id }, 'request end hook failed');
      }
      listener.#requestEnded();
    };
    const redirect = options.redirectToPort;
    const onRequest = (req: IncomingMessage, res: ContextResponse): void => {
      const refusal = this.#refusal(req);
      if (refusal !== undefined) {
        this.#log.info({ status: refusal.status, reason: refusal.reason, client: req.socket.remoteAddress }, 'rejected request');
        res.shouldKeepAlive = false;
        // A gRPC call is refused the gRPC way (431: RESOURCE_EXHAUSTED, …), as the proxy's own answers are.
        if (isGrpcRequest(req)) writeGrpcAnswer(req, res, refusal.status, refusal.reason, '');
        else res.writeHead(refusal.status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${refusal.status} ${refusal.reason}\n`);
        return;
      }
      if (redirect !== undefined) {
        if (options.challengeAnswer?.(req, res) === true) return;
        this.#redirect(req, res, redirect());
        return;
      }
      const ctx = start(req, res);
      // A request line saying 2.0 was refused above: this is an HTTP/2 stream.
      // Its stream's 'finish', not the response's: node:http2's compatibility layer says 'finish' only once the stream has closed.
      // A stream that ended with its headers has no body to stop (see resetUnfinishedStream); 'finish' comes once, so `on`.
      if (req.httpVersionMajor === 2) {
        const stream = (res as unknown as Http2ServerResponse).stream;
        if (!stream.endAfterHeaders) stream.on('finish', resetUnfinishedStream);
      }
      // A pipelined request's response waits for the ones before it. If the connection dies
      // first, node:http aborts the request but never closes that response: end it here.
      if (res.socket === null) req.once('close', () => { if (req.aborted && res.socket === null) onClose.call(res); });
      // HTTP/1.1 pipelining: at most MAX_PIPELINED of a connection's requests run at once.
      if (req.httpVersionMajor !== 2 && !gateFor(req.socket).admit(ctx)) return;
      run(ctx);
    };
    this.server.on('request', onRequest);
    // Expect: 100-continue: node:http would send 100 Continue before 'request', and the client
    // its body, even when the head is refused (413 over MAX_BODY_SIZE). A refused head gets its
    // answer alone, and the body is never asked for (RFC 9110 §10.1.1), as the fast engine does.
    const onContinue = (req: IncomingMessage, res: ContextResponse): void => {
      if (this.#refusal(req) === undefined) res.writeContinue();
      onRequest(req, res);
    };
    this.server.on('checkContinue', onContinue);
    const start = (req: IncomingMessage, res: ContextResponse): RequestContext => {
      const ctx = new RequestContext(req, res, log, proto);
      res.context = ctx;
      this.#inFlight.started();
      res.on('close', onClose); // emitted once; `on` avoids once()'s wrapper per request
      return ctx;
    };
    const run = (ctx: RequestContext): void => {
      try {
        chain.run(ctx);
      } catch (err) {
        ctx.log.error({ err }, 'request handler failed');
        const res = ctx.res;
        if (res.headersSent) res.destroy();
        else { res.statusCode = 500; res.shouldKeepAlive = false; res.end(); }
      }
    };
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      socket.on('error', () => undefined); // node:http has let go of it; 'close' follows an error
      const refusal = this.#refusal(req);
      if (refusal !== undefined || redirect !== undefined) {
        this.#log.info({ status: refusal?.status ?? 400, reason: refusal?.reason ?? 'no upgrade on a redirecting listener', client: socket.remoteAddress }, 'rejected request');
        writeRawError(socket, refusal?.status ?? 400);
        return;
      }
      this.#upgraded.add(socket);
      socket.once('close', () => this.#upgraded.delete(socket));
      // An Upgrade goes through the same chain and proxy as any request, with a response object on
      // its socket: an error, or a backend's refusal, is a normal response, after which it closes.
      const res = new ContextResponse(req);
      res.shouldKeepAlive = false;
      res.assignSocket(socket);
      res.once('finish', () => socket.destroySoon());
      const ctx = start(req, res);
      ctx.upgrade = true;
      ctx.head = head;
      run(ctx);
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.#clientError(err, socket));
    // A reverse proxy does not tunnel CONNECT (authority-form targets): answer instead of
    // dropping the connection, as node:http does when nobody listens.
    const onConnect = (req: IncomingMessage, socketOrResponse: Duplex | ContextResponse): void => {
      const version = req instanceof Http2ServerRequest ? undefined : versionProblem(req.httpVersionMajor, req.httpVersionMinor);
      const status = version === undefined ? 400 : VERSION_NOT_SUPPORTED;
      this.#log.info({ status, reason: version ?? 'CONNECT is not supported', client: req.socket.remoteAddress }, 'rejected request');
      // HTTP/2 hands over the stream's response (RFC 9113 §8.5), HTTP/1.1 the raw socket.
      if (req instanceof Http2ServerRequest) {
        (socketOrResponse as ContextResponse).writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end('400 Bad Request\n');
        return;
      }
      socketOrResponse.on('error', () => undefined);
      writeRawError(socketOrResponse as Duplex, status);
    };
    this.server.on('connect', onConnect);
    // h2c streams take the same way as every other request.
    // (node:http2's compatibility request and response: what the TLS listener's h2 streams are.)
    this.#h2c?.on('request', onRequest as never).on('connect', onConnect as never);
    this.#h2c?.on('checkContinue', onContinue as never);
    if (options.tls !== undefined) {
      this.server.on('tlsClientError', (err: Error, socket: Socket) => {
        this.#log.debug({ err: err.message, client: socket.remoteAddress }, 'TLS handshake failed');
      });
    }
  }

  /** Requests whose response has not ended yet. */
  get inFlight(): number {
    return this.#inFlight.count;
  }

  /** Open HTTP/2 sessions. */
  get sessions(): number {
    return this.#sessions.size;
  }

  /**
   * Serves `socket` as an h2c connection: paused, it holds what it has read so far (the
   * preface first) unread. The fast engine's listener hands its own such connections here.
   */
  serveH2c(socket: Socket): void {
    this.#h2c!.emit('connection', socket);
  }

  /** Open client connections (upgraded ones included, until they close). */
  connections(): Promise<number> {
    return new Promise((resolve) => this.server.getConnections((err, n) => resolve(err === null ? n : 0)));
  }

  get address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  /**
   * Replaces the default certificate (and the TLS options) for new connections; open ones keep
   * theirs. The session ticket keys are kept (node would make new ones): tickets issued before
   * still resume.
   */
  setSecureContext(tls: TlsOptions): void {
    const server = this.server as unknown as { setSecureContext(o: TlsOptions): void; getTicketKeys(): Buffer };
    server.setSecureContext({ minVersion: 'TLSv1.2', ticketKeys: server.getTicketKeys(), ...tls });
  }

  async listen(): Promise<AddressInfo> {
    return listenOn(this.server, this.#options.host, this.#options.port, this.#options.reusePort);
  }

  /** Stops accepting and closes idle keep-alive connections at once. */
  stopAccepting(): Promise<void> {
    this.#draining = true;
    const closed = stopListening(this.server);
    this.server.closeIdleConnections();
    for (const session of this.#sessions) session.close();
    return closed;
  }

  /** Resolves when no request is in flight. */
  whenIdle(): Promise<void> {
    return this.#inFlight.whenIdle();
  }

  /** Closes every connection now (the shutdown timeout has passed). */
  closeAll(): void {
    // Http2SecureServer tracks its HTTP/1.1 connections like http.Server but lacks this method.
    HttpServer.prototype.closeAllConnections.call(this.server);
    for (const socket of this.#upgraded) socket.destroy();
    for (const session of this.#sessions) session.destroy();
  }

  /**
   * The 4xx for a request that must not be forwarded, if any. An absolute-form target is
   * brought to origin-form here, so everything after the listener sees a path.
   */
  #refusal(req: IncomingMessage): Refusal | undefined {
    // An HTTP/2 stream (ALPN h2) says 2.0 and is one; an HTTP/1 request line that says it is not.
    if (req.httpVersionMajor !== 1 && !(req instanceof Http2ServerRequest)) {
      const version = versionProblem(req.httpVersionMajor, req.httpVersionMinor);
      if (version !== undefined) return { status: VERSION_NOT_SUPPORTED, reason: version };
    }
    return headRefusal(req, this.#limits, contentLength);
  }

  #redirect(req: IncomingMessage, res: ContextResponse, port: number): void {
    const host = (req.headers.host ?? 'localhost').replace(/:\d+$/, '');
    const location = `https://${host}${port === 443 ? '' : `:${port}`}${req.url ?? '/'}`;
    req.resume();
    res.writeHead(308, { location, 'content-type': 'text/plain; charset=utf-8' }).end(`308 Permanent Redirect: ${location}\n`);
  }

  #requestEnded(): void {
    this.#inFlight.ended();
    // Sockets become idle once node has finished this response; close them then.
    if (this.#draining) setImmediate(() => this.server.closeIdleConnections());
  }

  /**
   * Malformed or oversized requests: answer 400/414/431/408/505 and close, as HAProxy does. Bytes
   * that break after complete requests (pipelined garbage) do not cost those requests their
   * answers: the error's response follows theirs, as the fast engine's does.
   */
  #clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const code = err.code ?? '';
    const failing = socket as FailingSocket;
    // node:http reports the error again on every read and at the client's FIN: answered once.
    if (failing[REFUSING] !== undefined) return;
    const current = failing._httpMessage;
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = parseErrorStatus(err);
    const parsing = failing.parser?.incoming;
    if (current != null && (parsing == null || parsing.complete)) {
      // Every request read so far is whole and being answered: the error's response waits for
      // theirs. No more reading meanwhile: a FIN would make node:http abort them.
      failing[REFUSING] = status;
      socket.pause();
      this.#log.info({ code, status, client: socket.remoteAddress }, 'rejected malformed request');
      this.#refuseAfter(current, failing);
      return;
    }
    // node:http's own rule: never write over a response that has started (the request whose body broke).
    if (current?.headersSent === true) {
      socket.destroy();
      return;
    }
    this.#log.info({ code, status, client: socket.remoteAddress }, 'rejected malformed request');
    writeRawError(socket, status);
    socket.destroySoon?.();
  }

  /** Sends a parse error's response once `response`, and the pipelined ones node:http queued behind it, have gone. */
  #refuseAfter(response: NodeJS.EventEmitter, socket: FailingSocket): void {
    response.once('finish', () => {
      // node:http has handed the socket to the next response, if any, before this runs.
      const next = socket._httpMessage;
      if (next != null) this.#refuseAfter(next, socket);
      else if (socket.writable) {
        writeRawError(socket, socket[REFUSING]!);
        socket.destroySoon();
      }
    });
  }
}

function contentLength(req: IncomingMessage): string | undefined {
  return req.headers['content-length'];
}

/** Marks a connection whose parse error is answered once its requests are: the status to send. */
const REFUSING = Symbol('refusing');

/** What node:http keeps on a client socket: the response that owns it, and its parser's current request. */
type FailingSocket = Socket & {
  [REFUSING]?: number;
  _httpMessage?: (NodeJS.EventEmitter & { headersSent: boolean }) | null;
  parser?: { incoming?: { complete: boolean } | null } | null;
};

/**
 * An HTTP/2 session idle past CLIENT_IDLE_TIMEOUT: GOAWAY first, so that its streams may end;
 * destroyed if it is still there after another CLIENT_IDLE_TIMEOUT. A stream whose client
 * neither reads its response (flow control holds it) nor resets it would otherwise keep the
 * session, its socket and its request in flight for good: no frame moves, so the session's
 * own timeout does not come again.
 */
function closeIdleSession(session: Http2Session, idleTimeout: number): void {
  if (session.closed) {
    session.destroy();
    return;
  }
  session.close();
  const timer = setTimeout(() => session.destroy(), idleTimeout);
  timer.unref();
  session.once('close', () => clearTimeout(timer));
}

/**
 * Ends an HTTP/2 stream whose response has been sent whole while its request has not, with RST_STREAM
 * (NO_ERROR), as RFC 9113 §8.1 lets a server ask a client to stop sending a body no longer
 * needed. node:http2 keeps such a stream open until the client ends its body: one that never
 * does (it went away without a word, or sent GOAWAY and waits on its streams) would keep the
 * stream, and its request counted in flight, until shutdown cut it.
 */
function resetUnfinishedStream(this: ServerHttp2Stream): void {
  // A request that ended with its headers (OPTIONS *, a GET) has no body to stop; on Node 26
  // resetting such a stream here cost the client its response.
  if (this.endAfterHeaders || this.closed || this.destroyed || this.state.remoteClose !== 0) return;
  this.close(h2.NGHTTP2_NO_ERROR);
}

const GATE = Symbol('pipeline gate');

/** The pipelining gate of an HTTP/1.1 connection, made with its first request. */
function gateFor(socket: Socket): PipelineGate<RequestContext> {
  const holder = socket as Socket & { [GATE]?: PipelineGate<RequestContext> };
  return (holder[GATE] ??= new PipelineGate());
}

function gateOf(socket: Socket | null): PipelineGate<RequestContext> | undefined {
  return (socket as (Socket & { [GATE]?: PipelineGate<RequestContext> }) | null)?.[GATE];
}
