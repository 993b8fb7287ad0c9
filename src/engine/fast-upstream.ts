import { isIP, connect as netConnect, type OnReadOpts, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { isHeader, trailersEndConnection } from '../proxy/headers.js';
import { ProxyError } from '../errors/index.js';
import { IdleList, type IdleKeeper, type Keepable } from '../proxy/idle-pool.js';
import { tlsConnectOptions, type Backend, type BackendTls } from '../pool/index.js';
import type { ConnectionStats } from '../proxy/transport.js';
import type { OutgoingProxyHeader } from '../edge/proxy-send.js';
import { readDirect, SocketWriter } from './direct-io.js';
import { BODY, NO_BODY, Parser, RAW, RESPONSE, type HeadResult, type NativeParseError, type ParserEvents } from './llhttp.js';

/** What a connection reports to the try using it. */
export interface ConnectionUser {
  /** The connection is open (at once for a kept-alive one): the request may be written. */
  connected(connection: UpstreamConnection): void;
  onHead(versionMinor: number, rawHeaders: string[], status: number, statusText: string, upgrade: boolean, keepAlive: boolean): boolean;
  onBody(chunk: Buffer): void;
  /** The response is complete; `trailers`: those of a chunked body, raw, when it had some. */
  onMessageEnd(trailers?: string[]): void;
  /** After a 101: the bytes the backend sent past its head, for the client. */
  upgraded(rest: Buffer): void;
  /** The connection failed or closed before the response was complete. */
  lost(err: Error): void;
  /** The backend took what it was sent: more of the request body may go. */
  drained(): void;
}

export interface FastUpstreamOptions {
  /** Idle connections kept per backend (HTTP_MAX_IDLE_CONNS_PER_HOST). */
  readonly maxIdle: number;
  /** The engine's idle lists' keeper (HTTP_MAX_IDLE_CONNS, HTTP_IDLE_CONN_TIMEOUT, its clock). */
  readonly keeper: IdleKeeper;
  /** PROXY_CONNECT_TIMEOUT, ms. */
  readonly connectTimeout: number;
  readonly tls?: BackendTls;
}

/**
 * Bytes a plain upstream socket reads at once. More than 64 KiB: a 64 KiB body and its head
 * come in one read (and go to the client in one writev), not in a full read and a second one
 * for the last bytes (measured: 3 reads and 2 writes per 64 KiB response became 2 and 1).
 */
const READ_BUFFER = 128 * 1024;

/** A connect that took longer than PROXY_CONNECT_TIMEOUT: nothing was sent. */
function connectTimeout(): Error {
  return new ProxyError('LB_ERR_UPSTREAM_TIMEOUT', 'connect timeout');
}

/** A close with the response incomplete. */
function closed(): Error {
  return Object.assign(new Error('the backend closed the connection'), { code: 'ECONNRESET' });
}

/**
 * One connection to a backend, with its own llhttp response parser; used by one try at a time
 * and kept alive between them when the backend allows.
 */
export class UpstreamConnection implements ParserEvents, Keepable {
  readonly socket: Socket;
  /** The socket's writes (direct to the handle for a plain one). */
  readonly writer: SocketWriter;
  readonly #pool: FastUpstream;
  readonly #parser: Parser;
  user: ConnectionUser | undefined = undefined;
  open = false;
  /** The backend's response allows the connection to be kept. */
  keepAlive = false;
  /** Engine tick when it became idle. */
  idleSince = 0;
  /** Ticks (seconds) it may stay idle: the backend's `Keep-Alive: timeout` hint, less a second, when it gives one. */
  idleTicks = Number.POSITIVE_INFINITY;
  /** Counted out of the pool's open connections. */
  forgotten = false;
  /** The PROXY header it opened with, as text: only a try with the same header reuses it; undefined: none. */
  reuseKey: string | undefined = undefined;
  /** Bytes of a RAW body still to come; set between its head and llhttp's end of that head. */
  #rawLeft = 0;
  #upgraded = false;
  #dead = false;

  /** Where plain sockets read into: reused from one read to the next unless a slice of it was kept. */
  #readBuffer: Buffer | undefined = undefined;
  #lent = false;
  #view: Buffer = Buffer.alloc(0);
  #viewOf: Uint8Array | undefined = undefined;
  /** Handed to a tunnel (after a 101): what it reads is the tunnel's. */
  #piped = false;

  /** `open` makes the socket; given read options, it reads through them (plain sockets: `onread`). */
  constructor(pool: FastUpstream, open: (reader: OnReadOpts | undefined) => Socket, reuseReads: boolean, user: ConnectionUser) {
    this.#pool = pool;
    this.user = user;
    this.#parser = new Parser(RESPONSE, 64 * 1024, this);
    // Reads into one buffer of this connection's (net's `onread`), not a new 64 KiB allocation per
    // read: what is read is parsed or written on at once, and a slice a client write keeps (`lend`)
    // makes the next read take a fresh buffer.
    const socket = this.socket = open(reuseReads ? { buffer: this.#nextBuffer, callback: this.#onRead } : undefined);
    this.writer = new SocketWriter(socket);
    // A backend that answers early and resets: its answer is read, not thrown away by the next body write (see keepReading).
    this.writer.keepReading = this.#keepReading;
    socket.setNoDelay(true);
    if (!reuseReads) socket.on('data', this.#onData);
    else readDirect(socket);
    socket.on('drain', this.#onDrain);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  /** A write the backend refused leaves the socket reading while a try waits on it and reads it: the read ends it. */
  readonly #keepReading = (): boolean => this.user !== undefined && !this.#piped && !this.socket.isPaused();

  /** A slice of the last read is still referenced (queued on a client's socket): the next read goes elsewhere. */
  lend(): void {
    this.#lent = true;
  }

  readonly #nextBuffer = (): Buffer => {
    if (this.#readBuffer === undefined || this.#lent) {
      this.#readBuffer = Buffer.allocUnsafe(READ_BUFFER);
      this.#lent = false;
    }
    return this.#readBuffer;
  };

  readonly #onRead = (length: number, buffer: Uint8Array): boolean => {
    // The view of the last read, kept for a read of the same length into the same buffer (a
    // write that keeps a chunk lends the buffer, and the next read goes into another).
    let chunk = this.#view;
    if (chunk.length !== length || this.#viewOf !== buffer) {
      chunk = this.#view = (buffer as Buffer).subarray(0, length);
      this.#viewOf = buffer;
    }
    if (this.#piped) {
      // A tunnel's socket: its reads become 'data' events for the pipe, each in a buffer of its own.
      this.#lent = true;
      this.socket.emit('data', chunk);
      return true;
    }
    this.#onData(chunk);
    return true;
  };

  /** The socket connected: the waiting try may write. */
  ready(): void {
    this.open = true;
    this.user?.connected(this);
  }

  onHead(versionMinor: number, rawHeaders: string[], _method: string, _url: string, status: number, statusText: string, upgrade: boolean, keepAlive: boolean): HeadResult {
    this.keepAlive = keepAlive;
    if (keepAlive) this.idleTicks = keepAliveHint(rawHeaders);
    if (upgrade && status === 101) this.#upgraded = true;
    const user = this.user;
    if (user === undefined || user.onHead(versionMinor, rawHeaders, status, statusText, upgrade, keepAlive)) return NO_BODY;
    if (status < 200 || status === 204 || status === 304 || this.#upgraded) return BODY;
    // A body of a length llhttp has checked: its bytes go to the try as slices of what the socket
    // read, not through the parser (whose body callbacks copy every byte).
    const length = contentLength(rawHeaders);
    if (length === undefined || length === 0) return BODY;
    this.#rawLeft = length;
    return RAW;
  }

  onBody(chunk: Buffer): void {
    this.user?.onBody(chunk);
  }

  onMessageEnd(trailers?: string[]): void {
    if (trailers !== undefined && trailersEndConnection(trailers)) this.keepAlive = false;
    this.user?.onMessageEnd(trailers);
  }

  /** Passes up to the rest of a RAW body from `chunk` at `from`; returns where it stopped. */
  #rawBody(chunk: Buffer, from: number): number {
    const take = Math.min(this.#rawLeft, chunk.length - from);
    this.#rawLeft -= take;
    const user = this.user;
    if (take > 0) user?.onBody(from === 0 && take === chunk.length ? chunk : chunk.subarray(from, from + take));
    if (this.#rawLeft === 0 && this.user === user) user?.onMessageEnd();
    return from + take;
  }

  /** Its parser has been freed (the connection closed). */
  get parserClosed(): boolean {
    return this.#parser.closed;
  }

  /** Gone for good: out of the pool, no more events. */
  destroy(): void {
    this.#dead = true;
    this.user = undefined;
    this.socket.destroy();
  }

  /** After a 101 the socket is the tunnel's: the pool and the parser let go of it. */
  detach(): void {
    this.#dead = true;
    this.#piped = true;
    this.user = undefined;
    this.socket.off('data', this.#onData);
    this.socket.off('drain', this.#onDrain);
    this.socket.off('error', this.#onError);
    this.socket.off('close', this.#onClose);
    this.#parser.close();
    this.#pool.gone(this);
  }

  readonly #onData = (chunk: Buffer): void => {
    // Bytes while idle: nothing was asked, so the backend broke the framing. Never reused.
    if (this.user === undefined) {
      this.destroy();
      return;
    }
    if (this.#rawLeft > 0) {
      const at = this.#rawBody(chunk, 0);
      if (at < chunk.length) this.#extra();
      return;
    }
    const result = this.#parser.execute(chunk);
    if (typeof result !== 'number') {
      const user = this.user;
      this.destroy();
      user?.lost(Object.assign(new Error(`invalid HTTP response: ${(result as NativeParseError).reason ?? result.code}`), { code: result.code }));
      return;
    }
    if (this.#upgraded) {
      const user = this.user;
      const rest = chunk.subarray(result);
      this.detach();
      this.#lent = true;
      user?.upgraded(rest);
      return;
    }
    if (this.#rawLeft > 0 && result < chunk.length && this.#rawBody(chunk, result) < chunk.length) this.#extra();
  };

  /** Bytes past the end of a response nobody asked for: the connection cannot be trusted again. */
  #extra(): void {
    this.keepAlive = false;
    if (this.user === undefined) this.destroy();
  }

  readonly #onDrain = (): void => {
    this.user?.drained();
  };

  readonly #onError = (err: Error): void => {
    const user = this.user;
    this.#dead = true;
    this.user = undefined;
    this.socket.destroy();
    user?.lost(err);
  };

  readonly #onClose = (): void => {
    this.#pool.gone(this);
    // Closed by us (trimmed, timed out, its attempt cancelled): the native parser still holds
    // this connection and its read buffer until it is freed.
    if (this.#dead) {
      this.#parser.close();
      return;
    }
    this.#dead = true;
    // A response delimited by the close is complete now; any other is cut.
    const user = this.user;
    if (user !== undefined) {
      const error = this.#parser.finish();
      if (this.user === user) {
        this.user = undefined;
        user.lost(error === undefined ? closed() : Object.assign(new Error(`invalid HTTP response: ${error.code}`), { code: error.code }));
      }
    }
    this.#parser.close();
  };
}

/**
 * A backend's connections for the fast engine: kept-alive idle ones in an IdleList (the node
 * transport's shape: reused last-in first-out, `maxIdle` caps what is kept, not what may be
 * open, once a connection has stayed idle a whole tick), new ones opened as needed (plain or TLS).
 */
export class FastUpstream {
  readonly #host: string;
  readonly #port: number;
  readonly #secure: boolean;
  readonly #options: FastUpstreamOptions;
  /** The backend's pool's TLS (`tls:`), else the engine's (BACKEND_*): read at each connect, so reloaded files count. */
  readonly #tls: BackendTls | undefined;
  readonly #idle: IdleList<UpstreamConnection>;
  /** Every open connection, idle or not. */
  readonly #all = new Set<UpstreamConnection>();
  #open = 0;
  #closing = false;

  constructor(backend: Backend, options: FastUpstreamOptions) {
    const url = new URL(backend.origin);
    this.#secure = url.protocol === 'https:';
    this.#host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.#port = Number(url.port || (this.#secure ? 443 : 80));
    this.#options = options;
    this.#tls = backend.tls ?? options.tls;
    this.#idle = new IdleList(options.keeper, options.maxIdle, (connection) => connection.destroy());
  }

  get stats(): ConnectionStats {
    return { open: this.#open, busy: this.#open - this.#idle.size, idle: this.#idle.size };
  }

  /**
   * A connection for `user`: an idle one at once, or a new one once it has connected. With
   * `proxyHeader` (the pool sends the PROXY protocol) only one opened with the same header is
   * reused, and a new one writes it before anything else (before the TLS handshake on https).
   */
  acquire(user: ConnectionUser, proxyHeader?: OutgoingProxyHeader): void {
    // The backend said how long it keeps a connection idle: one about to close is not used.
    const idle = this.#idle.take(proxyHeader?.key);
    if (idle !== undefined) {
      idle.user = user;
      user.connected(idle);
      return;
    }
    const timeout = this.#options.connectTimeout;
    let connection: UpstreamConnection;
    try {
      if (this.#secure) {
        connection = new UpstreamConnection(this, () => {
          const raw = proxyHeader === undefined ? undefined : headerFirst(netConnect({ host: this.#host, port: this.#port }), proxyHeader.bytes);
          const secure = tlsConnect({
            ...(raw === undefined ? {} : { socket: raw }),
            // SNI carries a host name, never an address (RFC 6066 §3; Node 26 refuses one).
            host: this.#host, port: this.#port, ...(isIP(this.#host) === 0 ? { servername: this.#host } : {}), ALPNProtocols: ['http/1.1'],
            ...tlsConnectOptions(this.#tls),
          });
          // A refused connection under the TLS socket fails the try as a plain one would.
          raw?.once('error', (err) => secure.destroy(err));
          return secure;
        }, false, user);
        connection.socket.once('secureConnect', () => { connection.socket.setTimeout(0); connection.ready(); });
      } else {
        connection = new UpstreamConnection(this, (onread) => {
          const socket = netConnect({ host: this.#host, port: this.#port, onread });
          return proxyHeader === undefined ? socket : headerFirst(socket, proxyHeader.bytes);
        }, true, user);
        connection.socket.once('connect', () => { connection.socket.setTimeout(0); connection.ready(); });
      }
    } catch (err) {
      // Options the socket refuses at once: the try fails as a connect failure would.
      user.lost(err as Error);
      return;
    }
    connection.reuseKey = proxyHeader?.key;
    this.#open++;
    this.#all.add(connection);
    if (timeout > 0) {
      connection.socket.setTimeout(timeout, () => {
        const waiting = connection.user;
        connection.destroy();
        waiting?.lost(connectTimeout());
      });
    }
  }

  /** The try is done with `connection`: kept for the next one when `reusable`, else closed. */
  release(connection: UpstreamConnection, reusable: boolean): void {
    connection.user = undefined;
    if (!reusable || this.#closing || !connection.open || connection.socket.destroyed || connection.writer.refused) {
      connection.destroy();
      return;
    }
    // Idle, it is read: a try paused it (its client was slow) and ended meanwhile. Left paused,
    // the next try's response would never be read, and the backend's close never noticed.
    if (connection.socket.isPaused()) connection.socket.resume();
    this.#idle.put(connection);
  }

  /** A connection closed: forgotten. */
  gone(connection: UpstreamConnection): void {
    this.#idle.remove(connection);
    this.#all.delete(connection);
    if (!connection.forgotten) {
      connection.forgotten = true;
      this.#open--;
    }
  }

  /** Fails the try on every busy connection with `reason`. */
  cut(reason: Error): void {
    for (const connection of [...this.#all]) {
      const user = connection.user;
      if (user === undefined) continue;
      connection.destroy();
      user.lost(reason);
    }
  }

  /** Idle connections close now, busy ones when their try ends. */
  close(): void {
    this.#closing = true;
    this.#idle.close();
  }
}

/** `socket` (connecting) with `header` queued as its first bytes: net sends it once connected, before any later write. */
function headerFirst(socket: Socket, header: Buffer): Socket {
  socket.write(header);
  return socket;
}

/** The Content-Length of a response head (llhttp has refused a malformed or repeated one). */
function contentLength(raw: readonly string[]): number | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (isHeader(name, 'content-length')) return Number(raw[i + 1]);
  }
  return undefined;
}

/** Seconds from a `Keep-Alive: timeout=N` header, less one (a connection is not used in its last second); infinity without one. */
function keepAliveHint(raw: readonly string[]): number {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (!isHeader(name, 'keep-alive')) continue;
    const value = raw[i + 1]!;
    // A backend sends the same value every time: read once.
    if (value !== lastHint) {
      const match = /timeout\s*=\s*(\d+)/i.exec(value);
      lastHint = value;
      lastTicks = match === null ? Number.POSITIVE_INFINITY : Math.max(0, Number(match[1]) - 1);
    }
    return lastTicks;
  }
  return Number.POSITIVE_INFINITY;
}

let lastHint = '';
let lastTicks = Number.POSITIVE_INFINITY;
