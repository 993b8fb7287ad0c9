import type { Logger } from 'pino';
import type { Chain } from '../middleware/index.js';
import type { Backend } from '../pool/index.js';
import { NO_CONNECTIONS, type Attempt, type ConnectionStats, type Transport, type TransportOptions } from '../proxy/index.js';
import type { ClientLimits } from '../http1/index.js';
import { FastStream, type StreamHost } from './fast-stream.js';
import { FastListener, type FastListenerOptions } from './fast-listener.js';
import type { FastRequest } from './fast-request.js';
import { FastUpstream } from './fast-upstream.js';
import { IdleKeeper } from '../proxy/idle-pool.js';
import { selfTest as directIoSelfTest } from './direct-io.js';
import { selfTest } from './llhttp.js';
import { checkTakeover } from './tls-handoff.js';

/** The fast engine is built with what every transport is. */
export type FastEngineOptions = TransportOptions;

/**
 * The fast HTTP/1.1 engine (ENGINE=fast): raw sockets parsed by llhttp on both sides, under the
 * same chain, proxy, strategies and rules as the node engine. It makes the listeners for
 * HTTP/1.1, plain and over TLS, and is the transport that sends their requests to backends over its own
 * connections per backend.
 */
export class FastEngine implements Transport, StreamHost {
  readonly name = 'fast';
  readonly maxBody: number;
  readonly tunnelIdleTimeout: number;
  readonly #options: FastEngineOptions;
  readonly #upstreams = new Map<string, FastUpstream>();
  readonly #keeper: IdleKeeper;

  constructor(options: FastEngineOptions) {
    this.#options = options;
    this.#keeper = new IdleKeeper(options.maxIdle, options.idleTimeout);
    this.maxBody = options.maxBodySize;
    this.tunnelIdleTimeout = options.tunnelIdleTimeout;
  }

  /**
   * Whether Node's parser behaves as the engine expects (undefined), or what differs; with `tls`,
   * also whether a TLS listener's HTTP/1.1 connections can be taken from node:http (see takeHttp1).
   */
  static check(tls = false): string | undefined {
    return selfTest() ?? (tls ? checkTakeover() : undefined);
  }

  /**
   * Whether writing straight to sockets' handles and reading client sockets into one shared
   * buffer work on this Node (undefined), or what differs; what does not work is not used: the
   * engine then writes and reads through net's streams (slower, the same bytes).
   */
  static checkIo(): Promise<string | undefined> {
    return directIoSelfTest();
  }

  listener(chain: Chain, options: FastListenerOptions & { limits: ClientLimits }, log: Logger): FastListener {
    return new FastListener(chain, options, log);
  }

  send(attempt: Attempt, retryOf: Attempt | undefined): void {
    // A retry reuses the head made for the try before it, unless a hook's onUpstreamRequest made it anew.
    const head = attempt.newHead ? undefined : (retryOf?.stream as FastStream | undefined)?.head;
    const stream = new FastStream(attempt, this, this.#upstreamOf(attempt.backend), head);
    attempt.stream = stream;
    stream.dispatch();
  }

  #upstreamOf(backend: Backend): FastUpstream {
    let upstream = this.#upstreams.get(backend.id);
    if (upstream === undefined) {
      upstream = new FastUpstream(backend, { maxIdle: this.#options.maxIdlePerBackend, keeper: this.#keeper, connectTimeout: this.#options.connectTimeout, tls: this.#options.tls });
      this.#upstreams.set(backend.id, upstream);
    }
    return upstream;
  }

  /** Connections are opened on a backend's first request. */
  attach(_backend: Backend): void {}

  connections(backend: Backend): ConnectionStats {
    const stats = this.#upstreams.get(backend.id)?.stats;
    return stats ?? NO_CONNECTIONS;
  }

  /** Pauses within a response body are the attempt's sweep here: nothing to change. */
  setTimeout(): void {}

  resumeClient(req: FastRequest): void {
    req.connection?.resume();
  }

  /** A backend left the pool (drained): its idle connections close, busy ones as their tries end. */
  async detach(backend: Backend, cut?: Error): Promise<void> {
    const upstream = this.#upstreams.get(backend.id);
    this.#upstreams.delete(backend.id);
    if (cut !== undefined) upstream?.cut(cut);
    upstream?.close();
  }

  /** Fails every try in flight with `reason` (the shutdown timeout): each client is answered or cut. */
  async cut(reason: Error): Promise<void> {
    for (const upstream of this.#upstreams.values()) upstream.cut(reason);
  }

  async close(): Promise<void> {
    this.#keeper.stop();
    for (const upstream of this.#upstreams.values()) upstream.close();
    this.#upstreams.clear();
  }
}
