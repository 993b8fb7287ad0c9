import { buildConnector, Client, type Dispatcher } from 'undici';
import { connectorWithHeader, type OutgoingProxyHeader } from '../edge/proxy-send.js';
import { IdleList, type IdleKeeper, type Keepable } from './idle-pool.js';
import type { ConnectionStats } from './transport.js';

/** An undici client (one connection) that an idle list can keep. */
class PooledClient extends Client implements Keepable {
  idleSince = 0;
  /** undici keeps to the backend's `Keep-Alive: timeout` hint itself. */
  idleTicks = Number.POSITIVE_INFINITY;
  /** The PROXY header it opens with (and reopens with, undici reconnecting), as text; undefined: none. */
  reuseKey: string | undefined = undefined;
}

export interface UpstreamPoolOptions {
  /** Most idle connections kept for this backend (Go's `MaxIdleConnsPerHost`). */
  readonly maxIdle: number;
  readonly keeper: IdleKeeper;
  /** Options for each connection (an undici Client with pipelining 1). */
  readonly client: Client.Options;
}

/**
 * One backend's keep-alive connections: as many open as there are requests in flight, and at
 * most `maxIdle` kept once they have been idle a while (Go's `http.Transport` semantics: the
 * setting caps what is kept idle, not what may be open). A request takes the most recently
 * used idle connection (a warm one, so the rest can go cold), else opens one; it hands the
 * connection back when it ends, however it ends, so no failure can leave one counted as busy.
 *
 * Each connection is an undici Client (one socket, pipelining 1, reconnecting on its own); all
 * of them share one connector, so TLS sessions are resumed across connections.
 */
export class UpstreamPool {
  readonly #origin: string;
  #options: Client.Options;
  readonly #idle: IdleList<PooledClient>;
  readonly #all = new Set<PooledClient>();
  #busy = 0;
  #closing = false;

  constructor(origin: string, options: UpstreamPoolOptions) {
    this.#origin = origin;
    const { connect, ...client } = options.client;
    this.#options = { ...client, connect: typeof connect === 'function' ? connect : buildConnector({ ...connect }) };
    this.#idle = new IdleList(options.keeper, options.maxIdle, (c) => this.#retire(c));
  }

  /** The longest pause within a response body, for connections opened from now on. */
  setBodyTimeout(ms: number): void {
    this.#options = { ...this.#options, bodyTimeout: ms };
  }

  get stats(): ConnectionStats {
    return { open: this.#all.size, busy: this.#busy, idle: this.#idle.size };
  }

  /**
   * A connection for one request; give it back with `release` when the request has ended. With
   * `proxyHeader` (the pool sends the PROXY protocol), only a connection opened with the same
   * header is reused, and a new one writes it first.
   */
  acquire(proxyHeader?: OutgoingProxyHeader): Dispatcher {
    this.#busy++;
    const idle = this.#idle.take(proxyHeader?.key);
    this.reused = idle !== undefined;
    return idle ?? this.#open(proxyHeader);
  }

  /** Whether the last `acquire` gave a kept-alive connection (tracing's `lb.connection.reused`). */
  reused = false;

  /** Takes a connection back, to be reused, or closed later if it stays idle beyond the caps. */
  release(connection: Dispatcher): void {
    const client = connection as PooledClient;
    this.#busy--;
    if (this.#closing || client.closed || client.destroyed) this.#retire(client);
    else this.#idle.put(client);
  }

  /** Closes idle connections now and the others when their request ends; resolves when all are closed. */
  close(): Promise<void> {
    this.#shut();
    return Promise.all([...this.#all].map((c) => c.close().catch(() => undefined))).then(() => undefined);
  }

  /** Closes every connection now, failing the requests on them with `reason`. */
  destroy(reason?: Error): Promise<void> {
    this.#shut();
    return Promise.all([...this.#all].map((c) => c.destroy(reason ?? null).catch(() => undefined))).then(() => undefined);
  }

  #open(proxyHeader?: OutgoingProxyHeader): PooledClient {
    const options = proxyHeader === undefined ? this.#options
      : { ...this.#options, connect: connectorWithHeader(this.#options.connect as buildConnector.connector, proxyHeader.bytes) };
    const client = new PooledClient(this.#origin, options);
    client.reuseKey = proxyHeader?.key;
    this.#all.add(client);
    client.on('disconnect', () => {
      // An idle connection that the backend (or its keep-alive timeout) closed is not kept.
      if (this.#idle.remove(client)) this.#retire(client);
    });
    // Connection errors reach the request through its handler; this only keeps them off 'error'.
    client.on('connectionError', () => undefined);
    return client;
  }

  #retire(client: PooledClient): void {
    this.#all.delete(client);
    if (!client.closed && !client.destroyed) client.close().catch(() => undefined);
  }

  #shut(): void {
    this.#closing = true;
    this.#idle.close();
  }
}
