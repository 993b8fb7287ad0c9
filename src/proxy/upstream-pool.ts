import { buildConnector, Client, type Dispatcher } from 'undici';
import type { Upstream, UpstreamStats } from '../pool/index.js';

/**
 * The idle connections of every backend together, against HTTP_MAX_IDLE_CONNS (Go's
 * `Transport.MaxIdleConns`). One object shared by all the backends' pools.
 */
export class IdleBudget {
  idle = 0;
  constructor(readonly max: number) {}
}

export interface UpstreamPoolOptions {
  /** Most idle connections kept for this backend (Go's `MaxIdleConnsPerHost`). */
  readonly maxIdle: number;
  readonly budget: IdleBudget;
  /** Options for each connection (an undici Client with pipelining 1). */
  readonly client: Client.Options;
}

/**
 * One backend's keep-alive connections: as many open as there are requests in flight, and at
 * most `maxIdle` kept when they finish (Go's `http.Transport` semantics: the setting caps what
 * is kept idle, not what may be open). A request takes the most recently used idle connection
 * (a warm one, so the rest can time out), else opens one; it hands the connection back when it
 * ends, however it ends, so no failure can leave a connection counted as busy.
 *
 * Each connection is an undici Client (one socket, pipelining 1, reconnecting on its own); all
 * of them share one connector, so TLS sessions are resumed across connections.
 */
export class UpstreamPool implements Upstream {
  readonly #origin: string;
  readonly #options: Client.Options;
  readonly #maxIdle: number;
  readonly #budget: IdleBudget;
  /** Idle connections, most recently used last. */
  readonly #idle: Client[] = [];
  readonly #all = new Set<Client>();
  #busy = 0;
  #closing = false;

  constructor(origin: string, options: UpstreamPoolOptions) {
    this.#origin = origin;
    this.#maxIdle = options.maxIdle;
    this.#budget = options.budget;
    const { connect, ...client } = options.client;
    this.#options = { ...client, connect: typeof connect === 'function' ? connect : buildConnector({ ...connect }) };
  }

  get stats(): UpstreamStats {
    return { open: this.#all.size, busy: this.#busy, idle: this.#idle.length };
  }

  /** A connection for one request; give it back with `release` when the request has ended. */
  acquire(): Dispatcher {
    this.#busy++;
    const client = this.#idle.pop();
    if (client === undefined) return this.#open();
    this.#budget.idle--;
    return client;
  }

  /** Takes a connection back: kept for the next request, or closed past the idle caps. */
  release(connection: Dispatcher): void {
    const client = connection as Client;
    this.#busy--;
    if (this.#closing || client.closed || client.destroyed || this.#idle.length >= this.#maxIdle || this.#budget.idle >= this.#budget.max) {
      this.#retire(client);
      return;
    }
    this.#idle.push(client);
    this.#budget.idle++;
  }

  /** Closes idle connections now and the others when their request ends; resolves when all are closed. */
  close(): Promise<void> {
    this.#closing = true;
    this.#dropIdle();
    return Promise.all([...this.#all].map((c) => c.close().catch(() => undefined))).then(() => undefined);
  }

  /** Closes every connection now, failing the requests on them. */
  destroy(): Promise<void> {
    this.#closing = true;
    this.#dropIdle();
    return Promise.all([...this.#all].map((c) => c.destroy().catch(() => undefined))).then(() => undefined);
  }

  #open(): Client {
    const client = new Client(this.#origin, this.#options);
    this.#all.add(client);
    client.on('disconnect', () => {
      // An idle connection that the backend (or its keep-alive timeout) closed is not kept.
      const at = this.#idle.indexOf(client);
      if (at >= 0) {
        this.#idle.splice(at, 1);
        this.#budget.idle--;
        this.#retire(client);
      }
    });
    // Connection errors reach the request through its handler; this only keeps them off 'error'.
    client.on('connectionError', () => undefined);
    return client;
  }

  #retire(client: Client): void {
    this.#all.delete(client);
    if (!client.closed && !client.destroyed) client.close().catch(() => undefined);
  }

  #dropIdle(): void {
    for (const client of this.#idle.splice(0)) {
      this.#budget.idle--;
      this.#retire(client);
    }
  }
}
