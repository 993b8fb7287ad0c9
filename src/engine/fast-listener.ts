import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Server as TlsServer, SecureContextOptions, TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { RequestContext } from '../context/index.js';
import { InFlight, DEFAULT_LIMITS, headRefusal, listenOn, VERSION_NOT_SUPPORTED, versionProblem, type ClientLimits, type Listener, type Refusal, stopListening } from '../http1/index.js';
import type { Chain } from '../middleware/index.js';
import { readProxyHeader, type ProxyGate } from '../edge/proxy-gate.js';
import { isHeader } from '../proxy/headers.js';
import { HttpListener } from '../server/index.js';
import { ClientConnection } from './fast-connection.js';
import { takeHttp1 } from './tls-handoff.js';
import type { FastRequest } from './fast-request.js';
import type { FastResponse } from './fast-response.js';

export interface FastListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly limits?: ClientLimits;
  /** PROXY_PROTOCOL: each connection's PROXY header is read before llhttp sees a byte. */
  readonly proxyGate?: ProxyGate;
  /** WORKER_LISTEN=reuseport: this process binds its own SO_REUSEPORT socket (see listenOn). */
  readonly reusePort?: boolean;
  /** Certificates (SNICallback), versions and client certificates: the listener speaks HTTPS (see HttpListener). */
  readonly tls?: TlsOptions;
}

/**
 * The fast engine's plain HTTP/1.1 listener: raw `net` sockets parsed by llhttp (see
 * ClientConnection), the same chain, limits and refusals as the node:http listener; the chain's
 * proxy sends its requests to backends through the fast transport. Head and idle timeouts are one sweep over the
 * connections, a tick at a time, not a timer per connection or per read. A connection that
 * opens with the HTTP/2 preface (h2c with prior knowledge) is handed to the node engine's
 * listener, which serves its streams as it serves its own.
 *
 * With TLS, the node engine's TLS listener does the handshakes (certificates by SNI, client
 * certificates, session tickets, the PROXY header before the ClientHello, ACME's TLS-ALPN-01)
 * and serves the connections whose ALPN chose h2; those that chose HTTP/1.1, or nothing, are
 * served here, read through their TLS socket's 'data' events and written through its stream
 * (TLS has no handle to read or write directly).
 */
export class FastListener implements Listener {
  readonly proto: 'http' | 'https';
  readonly engine = 'fast';
  readonly server: Server;
  readonly log: Logger;
  readonly limits: ClientLimits;
  /** The sweep's clock: ticks since start, `interval` ms each. */
  tick = 1;
  readonly interval: number;
  /** The `Date` header line for this second, made once a second. */
  dateLine = dateLine();
  /** The end of a kept-alive response's head: `Connection`, `Keep-Alive: timeout=N`, the blank line. */
  readonly keepAliveLines: string;
  draining = false;
  refusedCount = 0;
  readonly #chain: Chain;
  readonly #options: FastListenerOptions;
  readonly #connections = new Set<ClientConnection>();
  readonly #inFlight = new InFlight();
  #timer: NodeJS.Timeout | undefined = undefined;
  /** Serves the HTTP/2 connections: h2c ones handed over (it never listens then), or, with TLS, the listening server itself. */
  readonly #h2c: HttpListener;

  constructor(chain: Chain, options: FastListenerOptions, log: Logger) {
    this.#chain = chain;
    this.#options = options;
    this.log = log;
    const limits = this.limits = options.limits ?? DEFAULT_LIMITS;
    this.interval = Math.min(1000, Math.max(50, Math.floor(Math.min(...[limits.headerTimeout, limits.idleTimeout].filter((t) => t > 0), 4000) / 4)));
    this.keepAliveLines = flat(`Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(limits.idleTimeout / 1000)}\r\n\r\n`);
    this.#h2c = new HttpListener(chain, options, log);
    this.proto = this.#h2c.proto;
    const gate = options.proxyGate;
    if (options.tls !== undefined) {
      // The node engine's TLS server, which read the PROXY header (if any) before the handshake.
      this.server = this.#h2c.server as unknown as Server;
      if (!takeHttp1(this.server as TlsServer, (socket) => { this.#connections.add(new ClientConnection(this, socket)); })) {
        throw new Error('node:http2\'s secure server is not as the fast engine expects (see FastEngine.check)');
      }
      return;
    }
    this.server = createServer({ noDelay: true }, (socket: Socket) => {
      if (gate === undefined) {
        this.#connections.add(new ClientConnection(this, socket));
        return;
      }
      // Once per connection, at its start: nothing of it runs per request.
      readProxyHeader(socket, gate, limits.headerTimeout, (rest) => {
        this.#connections.add(new ClientConnection(this, socket, rest, socket.bytesRead - rest.length));
      });
    });
    if (limits.maxConnections > 0) this.server.maxConnections = limits.maxConnections;
    this.server.on('drop', (data?: { remoteAddress?: string }) => {
      this.log.warn({ client: data?.remoteAddress, maxConnections: limits.maxConnections }, 'connection refused: MAX_CONNECTIONS reached');
    });
  }

  get inFlight(): number {
    return this.#inFlight.count + this.#h2c.inFlight;
  }

  connections(): Promise<number> {
    return Promise.resolve(this.#connections.size + this.#h2c.sessions);
  }

  get address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  /** Replaces the default certificate for new connections (a TLS listener; see HttpListener.setSecureContext). */
  setSecureContext(tls: SecureContextOptions): void {
    if (this.proto !== 'https') throw new Error('a plain listener has no certificate');
    this.#h2c.setSecureContext(tls);
  }

  async listen(): Promise<AddressInfo> {
    const address = await listenOn(this.server, this.#options.host, this.#options.port, this.#options.reusePort);
    this.#timer = setInterval(this.#sweep, this.interval);
    this.#timer.unref();
    this.server.once('close', () => clearInterval(this.#timer));
    return address;
  }

  stopAccepting(): Promise<void> {
    this.draining = true;
    if (this.proto === 'https') {
      // One server: the HTTP/2 side's stops it, and says GOAWAY to its sessions.
      const stopped = this.#h2c.stopAccepting();
      for (const connection of this.#connections) if (connection.idle) connection.destroy();
      return stopped;
    }
    const closed = stopListening(this.server);
    for (const connection of this.#connections) if (connection.idle) connection.destroy();
    // Its sessions get GOAWAY (the server it does not listen on closes at once).
    void this.#h2c.stopAccepting();
    return closed;
  }

  async whenIdle(): Promise<void> {
    await Promise.all([this.#inFlight.whenIdle(), this.#h2c.whenIdle()]);
  }

  closeAll(): void {
    for (const connection of this.#connections) connection.destroy();
    this.#h2c.closeAll();
  }

  /** `connection` opened with the HTTP/2 preface: its socket, paused and holding the preface unread, is served as h2c from now on. */
  h2c(connection: ClientConnection, socket: Socket): void {
    this.#connections.delete(connection);
    this.#h2c.serveH2c(socket);
  }

  /** The 4xx (or 505) for a request that must not be forwarded, if any (the node:http listener's rules). */
  refusal(req: FastRequest): Refusal | undefined {
    // First: a request line that is not HTTP/1.0 or 1.1 is not read any further (see versionProblem).
    if (req.httpVersionMajor !== 1) return { status: VERSION_NOT_SUPPORTED, reason: versionProblem(req.httpVersionMajor, req.httpVersionMinor)! };
    // What node:http's parser refuses itself.
    if (req.method === 'CONNECT') return { status: 400, reason: 'CONNECT is not supported' };
    if (req.httpVersionMinor === 1 && !hasHost(req.rawHeaders)) return { status: 400, reason: 'no Host header' };
    return headRefusal(req, this.limits, contentLength);
  }

  /** A request's context was made: it counts as in flight until `finish`. */
  started(): void {
    this.#inFlight.started();
  }

  /** Runs the chain for a request whose turn has come. */
  run(ctx: RequestContext): void {
    try {
      this.#chain.run(ctx);
    } catch (err) {
      ctx.log.error({ err }, 'request handler failed');
      const res = ctx.res as FastResponse;
      if (res.headersSent) res.destroy();
      else { res.statusCode = 500; res.shouldKeepAlive = false; res.end(); }
    }
  }

  /** A request is over (answered, or its connection gone): its end hooks run, once. */
  finish(ctx: RequestContext): void {
    try {
      this.#chain.end(ctx);
    } catch (err) {
      this.log.error({ err, reqId: ctx.id }, 'request end hook failed');
    }
    this.#inFlight.ended();
  }

  forget(connection: ClientConnection): void {
    this.#connections.delete(connection);
  }

  readonly #sweep = (): void => {
    const tick = ++this.tick;
    if (tick % Math.max(1, Math.round(1000 / this.interval)) === 0) this.dateLine = dateLine();
    const { headerTimeout, idleTimeout } = this.limits;
    for (const connection of this.#connections) {
      if (connection.headStartTick !== 0) {
        if (headerTimeout > 0 && (tick - connection.headStartTick) * this.interval > headerTimeout) connection.headTimeout();
      } else if (connection.idle && idleTimeout > 0 && (tick - connection.lastReadTick) * this.interval > idleTimeout) {
        connection.destroy();
      }
    }
  };
}

/** `s`, flat: V8 flattens a string built by concatenation when a character of it is read. */
function flat(s: string): string {
  s.charCodeAt(0);
  return s;
}

function dateLine(): string {
  return flat(`Date: ${new Date().toUTCString()}\r\n`);
}

function contentLength(req: FastRequest): string | undefined {
  return req.header('content-length');
}

function hasHost(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) if (isHeader(raw[i]!, 'host')) return true;
  return false;
}
