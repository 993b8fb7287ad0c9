import type { Backend, BackendTls } from '../pool/index.js';
import type { Attempt } from './attempt.js';

/**
 * How bytes reach a backend (Envoy's `GenericConnPool` + `GenericUpstream`, undici's per-protocol
 * object): node:http + undici is one transport, llhttp on raw sockets another, node:http2
 * sessions to HTTP/2 backends a third (`ProtoTransport` puts it beside either). A transport owns
 * its connections per backend, moves the bytes of each attempt, and tells the attempt what
 * happened (`Attempt.writing`, `requestSent`, `responded`, `upgraded`, `completed`, `failed`),
 * its own errors mapped to our codes. Policy (retries, deadlines, accounting) stays in Attempt.
 */
export interface Transport {
  /** `node`, `fast` or `h2`: what the logs and the `listening` line call it. */
  readonly name: string;
  /**
   * Starts `attempt`'s request on a connection to its backend. `retryOf` is the attempt it
   * replaces, whose prepared request (head, body source) the transport may reuse.
   */
  send(attempt: Attempt, retryOf: Attempt | undefined): void;
  /** A backend joins the pool: its connections may be made. */
  attach(backend: Backend): void;
  /** A backend left the pool and drained: its connections close (`cut`: in-flight ones are failed with it). */
  detach(backend: Backend, cut?: Error): Promise<void>;
  /** Fails every attempt in flight with `reason` (the shutdown timeout): each client is answered or cut; resolves once they are. */
  cut(reason: Error): Promise<void>;
  /** PROXY_TIMEOUT changed (a reload): for transports that enforce part of it themselves. */
  setTimeout(ms: number, backends: readonly Backend[]): void;
  /** Connections to `backend` now, busy (carrying an attempt or a tunnel) and idle. */
  connections(backend: Backend): ConnectionStats;
  /** Closes every connection; the transport is not used again. */
  close(): Promise<void>;
}

/** A backend's connections right now. */
export interface ConnectionStats {
  /** Connections open or opening. */
  readonly open: number;
  /** Carrying an attempt (or opening for one). */
  readonly busy: number;
  /** Kept alive, waiting for the next request. */
  readonly idle: number;
}

/** One request on one connection, as the attempt that owns it sees it. */
export interface Stream {
  /**
   * Stops the request at once and closes its connection (a timeout, the client gone, a retry on
   * status). What the transport reports about it afterwards finds the attempt ended.
   */
  reset(reason: Error): void;
  /** The client's request body is being read and the backend takes what it gets (for CLIENT_BODY_TIMEOUT). */
  readonly waitingOnClient: boolean;
  /** Bytes of the response written to the client that it has not taken yet (for CLIENT_SEND_TIMEOUT). */
  readonly unsent: number;
}

/** What every transport is built with, from the configuration. */
export interface TransportOptions {
  /** Idle connections kept per backend (HTTP_MAX_IDLE_CONNS_PER_HOST). */
  readonly maxIdlePerBackend: number;
  /** Idle connections kept over all backends (HTTP_MAX_IDLE_CONNS): the ones idle longest close first. */
  readonly maxIdle: number;
  /** How long an idle backend connection is kept (HTTP_IDLE_CONN_TIMEOUT; a shorter Keep-Alive hint wins), ms. */
  readonly idleTimeout: number;
  /** Time allowed to open a connection (CONNECT_TIMEOUT), ms. */
  readonly connectTimeout: number;
  /** MAX_BODY_SIZE: counted by the transport for chunked bodies (0: unlimited). */
  readonly maxBodySize: number;
  /** Close a tunnel with no traffic either way for this long, ms (0: never). */
  readonly tunnelIdleTimeout: number;
  /** How https:// backends are verified. */
  readonly tls?: BackendTls;
}

/** A backend without connections. */
export const NO_CONNECTIONS: ConnectionStats = Object.freeze({ open: 0, busy: 0, idle: 0 });
