import { buildConnector, Client, type Dispatcher } from 'undici';
import type { ConnectionStats } from './transport.js';

/** How often idle connections beyond the caps are looked for. */
const TRIM_INTERVAL_MS = 1000;

/**
 * Keeps the idle connections of every backend within HTTP_MAX_IDLE_CONNS_PER_HOST and, all
 * together, HTTP_MAX_IDLE_CONNS (Go's `MaxIdleConnsPerHost` and `MaxIdleConns`). Once a second
 * it closes, least recently used first, connections beyond a cap that stayed idle through the
 * whole second: under steady load the idle set swings above a cap and back between two
 * requests, and closing at the first swing would reopen a connection for many requests.
 */
export class IdleKeeper {
  readonly #pools = new Set<UpstreamPool>();
  readonly #maxTotal: number;
  #timer: NodeJS.Timeout | undefined = undefined;
  readonly #tick = (): void => this.trim();

  constructor(maxTotal: number) {
    this.#maxTotal = maxTotal;
  }

  add(pool: UpstreamPool): void {
    this.#pools.add(pool);
  }

  delete(pool: UpstreamPool): void {
    this.#pools.delete(pool);
  }

  /** Some pool has idle connections: trimming runs until none has. */
  wake(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(this.#tick, TRIM_INTERVAL_MS);
    this.#timer.unref();
  }

  /** One trimming pass (the timer's; tests call it directly). */
  trim(): void {
    let total = 0;
    for (const pool of this.#pools) total += pool.trimToCap();
    let excess = total - this.#maxTotal;
    for (const pool of this.#pools) {
      if (excess <= 0) break;
      excess -= pool.trimCold(excess);
    }
    let idle = 0;
    for (const pool of this.#pools) idle += pool.startInterval();
    if (idle === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
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
  readonly #maxIdle: number;
  readonly #keeper: IdleKeeper;
  /** Idle connections, least recently used first. */
  readonly #idle: Client[] = [];
  readonly #all = new Set<Client>();
  #busy = 0;
  /** The fewest idle connections since the keeper's last pass: that many were needed at no moment. */
  #lowWater = 0;
  #closing = false;

  constructor(origin: string, options: UpstreamPoolOptions) {
    this.#origin = origin;
    this.#maxIdle = options.maxIdle;
    this.#keeper = options.keeper;
    const { connect, ...client } = options.client;
    this.#options = { ...client, connect: typeof connect === 'function' ? connect : buildConnector({ ...connect }) };
    this.#keeper.add(this);
  }

  /** The longest pause within a response body, for connections opened from now on. */
  setBodyTimeout(ms: number): void {
    this.#options = { ...this.#options, bodyTimeout: ms };
  }

  get stats(): ConnectionStats {
    return { open: this.#all.size, busy: this.#busy, idle: this.#idle.length };
  }

  /** A connection for one request; give it back with `release` when the request has ended. */
  acquire(): Dispatcher {
    this.#busy++;
    const client = this.#idle.pop();
    if (client === undefined) return this.#open();
    if (this.#idle.length < this.#lowWater) this.#lowWater = this.#idle.length;
    return client;
  }

  /** Takes a connection back, to be reused, or closed later if it stays idle beyond the caps. */
  release(connection: Dispatcher): void {
    const client = connection as Client;
    this.#busy--;
    if (this.#closing || client.closed || client.destroyed) {
      this.#retire(client);
      return;
    }
    this.#idle.push(client);
    if (this.#idle.length === 1) this.#keeper.wake();
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

  /** Closes cold connections beyond `maxIdle`; returns how many stay idle. */
  trimToCap(): number {
    this.#closeColdest(this.#idle.length - this.#maxIdle);
    return this.#idle.length;
  }

  /** Closes up to `n` more cold connections (for the cap over all backends); returns how many it closed. */
  trimCold(n: number): number {
    return this.#closeColdest(n);
  }

  /** A new interval for the low-water mark; returns the idle count. */
  startInterval(): number {
    this.#lowWater = this.#idle.length;
    return this.#idle.length;
  }

  #closeColdest(wanted: number): number {
    const n = Math.min(wanted, this.#lowWater, this.#idle.length);
    if (n <= 0) return 0;
    for (const client of this.#idle.splice(0, n)) this.#retire(client);
    this.#lowWater -= n;
    return n;
  }

  #open(): Client {
    const client = new Client(this.#origin, this.#options);
    this.#all.add(client);
    client.on('disconnect', () => {
      // An idle connection that the backend (or its keep-alive timeout) closed is not kept.
      const at = this.#idle.indexOf(client);
      if (at >= 0) {
        this.#idle.splice(at, 1);
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

  #shut(): void {
    this.#closing = true;
    this.#keeper.delete(this);
    for (const client of this.#idle.splice(0)) this.#retire(client);
  }
}
