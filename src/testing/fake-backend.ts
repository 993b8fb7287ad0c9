import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** How a fake backend answers; change it at any time with `backend.behave()`. */
export interface Behaviour {
  /** Milliseconds before answering: a number, or `[min, max]` drawn uniformly. Default 0. */
  readonly latency?: number | readonly [number, number];
  /** Share of requests answered with `errorStatus` (0 to 1). Default 0. */
  readonly errorRate?: number;
  /** The status of an error (default 503). */
  readonly errorStatus?: number;
  /** Never answer (the request hangs until the client or the balancer gives up). */
  readonly hang?: boolean;
  /** Reset the connection instead of answering. */
  readonly reset?: boolean;
  /** Bytes of response body (default: the backend's name). */
  readonly bodyBytes?: number;
  /** Send the body this many bytes per 50 ms (a slow backend, not a slow client). Default: at once. */
  readonly trickle?: number;
  /** Read the request body at most this many bytes per 50 ms before answering (a backend slow to take uploads). */
  readonly slowRead?: number;
  /** The health check's answer (`/health` by default): 200 unless set. */
  readonly healthStatus?: number;
}

export interface FakeBackendOptions {
  readonly name: string;
  readonly behaviour?: Behaviour;
  /** Uniform numbers in [0, 1): seed it for reproducible error draws. Default Math.random. */
  readonly random?: () => number;
  readonly healthPath?: string;
}

/**
 * A real HTTP server on 127.0.0.1 whose behaviour is scripted and can change mid-run: latency,
 * errors, hanging, resets, slow bodies, refused connections (its listener closed and reopened on
 * the same port). It counts what it received, health checks apart.
 */
export class FakeBackend {
  readonly name: string;
  /** Requests received (health checks not included), and answered with an error. */
  requests = 0;
  errors = 0;
  healthChecks = 0;
  #behaviour: Behaviour;
  readonly #random: () => number;
  readonly #healthPath: string;
  readonly #sockets = new Set<Socket>();
  #server: Server;
  #port = 0;

  constructor(options: FakeBackendOptions) {
    this.name = options.name;
    this.#behaviour = options.behaviour ?? {};
    this.#random = options.random ?? Math.random;
    this.#healthPath = options.healthPath ?? '/health';
    this.#server = this.#create();
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  get listening(): boolean {
    return this.#server.listening;
  }

  /** Listens on an ephemeral port (or the one it had: a restart). */
  async start(): Promise<this> {
    this.#server.listen(this.#port, '127.0.0.1');
    await once(this.#server, 'listening');
    this.#port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  /** Changes how it answers from the next request on (merged into the current behaviour). */
  behave(change: Behaviour, replace = false): void {
    this.#behaviour = replace ? change : { ...this.#behaviour, ...change };
  }

  /**
   * Stops accepting connections (new ones are refused) but keeps answering on those it has, as
   * a process that is shutting down does; `start()` takes it back on the same port.
   */
  async closeListener(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = once(this.#server, 'close');
    this.#server.close();
    for (const socket of this.#sockets) if (socket.listenerCount('data') === 0) socket.destroy();
    this.#server.closeIdleConnections();
    await closed;
    this.#server = this.#create();
  }

  /** Stops, connections included. */
  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    if (!this.#server.listening) return;
    const closed = once(this.#server, 'close');
    this.#server.close();
    await closed;
  }

  #create(): Server {
    const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => this.#answer(req, res));
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    server.on('clientError', (_err, socket) => socket.destroy());
    return server;
  }

  #answer(req: IncomingMessage, res: ServerResponse): void {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    const b = this.#behaviour;
    if (b.slowRead !== undefined && b.slowRead > 0 && req.url !== this.#healthPath) {
      this.#readSlowly(req, b.slowRead, () => this.#respond(req, res, b));
      return;
    }
    req.resume();
    this.#respond(req, res, b);
  }

  /** Takes `perTick` bytes of the body every 50 ms, then calls `done`. */
  #readSlowly(req: IncomingMessage, perTick: number, done: () => void): void {
    let taken = 0;
    const take = (): void => {
      for (;;) {
        const chunk = req.read(Math.max(1, Math.min(perTick - taken, req.readableLength || perTick))) as Buffer | null;
        if (chunk === null) return;
        taken += chunk.length;
        if (taken >= perTick) {
          taken = 0;
          req.off('readable', take);
          setTimeout(() => { req.on('readable', take); take(); }, 50);
          return;
        }
      }
    };
    req.on('readable', take);
    req.once('end', done);
  }

  #respond(req: IncomingMessage, res: ServerResponse, b: Behaviour): void {
    if (req.url === this.#healthPath) {
      this.healthChecks++;
      res.statusCode = b.healthStatus ?? 200;
      res.end();
      return;
    }
    this.requests++;
    if (b.hang === true) return;
    if (b.reset === true) {
      req.socket.destroy();
      return;
    }
    const failing = (b.errorRate ?? 0) > 0 && this.#random() < b.errorRate!;
    const latency = typeof b.latency === 'number' ? b.latency
      : b.latency === undefined ? 0 : b.latency[0] + this.#random() * (b.latency[1] - b.latency[0]);
    const send = (): void => {
      if (failing) {
        this.errors++;
        res.statusCode = b.errorStatus ?? 503;
        res.end(`${this.name} failed`);
        return;
      }
      res.setHeader('x-backend', this.name);
      const body = b.bodyBytes === undefined ? Buffer.from(this.name) : Buffer.alloc(b.bodyBytes, 120);
      if (b.trickle === undefined || b.trickle <= 0) {
        res.end(body);
        return;
      }
      res.setHeader('content-length', body.length);
      let at = 0;
      const step = (): void => {
        if (res.destroyed) return;
        const next = Math.min(body.length, at + b.trickle!);
        res.write(body.subarray(at, next));
        at = next;
        if (at < body.length) setTimeout(step, 50);
        else res.end();
      };
      step();
    };
    if (latency > 0) setTimeout(send, latency);
    else send();
  }
}
