import type { Backend } from '../pool/index.js';
import type { Attempt } from './attempt.js';
import type { ConnectionStats, Transport } from './transport.js';

/**
 * The one transport a balancer's services share, made of two or three: each attempt goes by its
 * backend's protocol, HTTP/2 ones (`h2`, `h2c`) to the h2 transport and the rest (`http1`,
 * `auto`) to the engine's HTTP/1.1 transport; with the fast engine, whose transport reads only
 * its own requests, the requests of HTTP/2 clients (node:http2's) go to HTTP/1.1 backends
 * through the node transport. A retry keeps its predecessor's prepared request only when both
 * go the same way.
 */
export class ProtoTransport implements Transport {
  readonly name: string;
  readonly #http1: Transport;
  readonly #h2: Transport;
  /** For HTTP/2 clients' requests to HTTP/1.1 backends: `http1`, or the node transport beside the fast one. */
  readonly #h2Clients: Transport;

  constructor(http1: Transport, h2: Transport, h2Clients: Transport = http1) {
    this.#http1 = http1;
    this.#h2 = h2;
    this.#h2Clients = h2Clients;
    this.name = http1.name;
  }

  send(attempt: Attempt, retryOf: Attempt | undefined): void {
    const transport = this.#for(attempt);
    transport.send(attempt, retryOf !== undefined && this.#for(retryOf) === transport ? retryOf : undefined);
  }

  attach(backend: Backend): void {
    for (const transport of this.#of(backend)) transport.attach(backend);
  }

  async detach(backend: Backend, cut?: Error): Promise<void> {
    await Promise.all(this.#of(backend).map((t) => t.detach(backend, cut)));
  }

  async cut(reason: Error): Promise<void> {
    await Promise.all(this.#all().map((t) => t.cut(reason)));
  }

  setTimeout(ms: number, backends: readonly Backend[]): void {
    const http1 = backends.filter((b) => !isH2(b));
    this.#http1.setTimeout(ms, http1);
    if (this.#h2Clients !== this.#http1) this.#h2Clients.setTimeout(ms, http1);
    this.#h2.setTimeout(ms, backends.filter(isH2));
  }

  connections(backend: Backend): ConnectionStats {
    const [first, second] = this.#of(backend);
    if (second === undefined) return first!.connections(backend);
    const a = first!.connections(backend);
    const b = second.connections(backend);
    return { open: a.open + b.open, busy: a.busy + b.busy, idle: a.idle + b.idle };
  }

  async close(): Promise<void> {
    await Promise.all(this.#all().map((t) => t.close()));
  }

  #for(attempt: Attempt): Transport {
    if (isH2(attempt.backend)) return this.#h2;
    return attempt.ctx.req.httpVersionMajor === 2 ? this.#h2Clients : this.#http1;
  }

  /** The transports that may carry requests to `backend`. */
  #of(backend: Backend): Transport[] {
    if (isH2(backend)) return [this.#h2];
    return this.#h2Clients === this.#http1 ? [this.#http1] : [this.#http1, this.#h2Clients];
  }

  #all(): Transport[] {
    return this.#h2Clients === this.#http1 ? [this.#http1, this.#h2] : [this.#http1, this.#h2Clients, this.#h2];
  }
}

/** A backend spoken to over HTTP/2. */
export function isH2(backend: Backend): boolean {
  return backend.proto === 'h2' || backend.proto === 'h2c';
}
