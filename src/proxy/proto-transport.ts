import type { Backend } from '../pool/index.js';
import type { Attempt } from './attempt.js';
import type { ConnectionStats, Transport } from './transport.js';

/**
 * The one transport a balancer's services share, made of two: each attempt goes by its
 * backend's protocol, HTTP/2 ones (`h2`, `h2c`) to the h2 transport and the rest (`http1`,
 * `auto`) to the engine's HTTP/1.1 transport. A retry keeps its predecessor's prepared request
 * only when both go the same way.
 */
export class ProtoTransport implements Transport {
  readonly name: string;
  readonly #http1: Transport;
  readonly #h2: Transport;

  constructor(http1: Transport, h2: Transport) {
    this.#http1 = http1;
    this.#h2 = h2;
    this.name = http1.name;
  }

  send(attempt: Attempt, retryOf: Attempt | undefined): void {
    const transport = this.#for(attempt.backend);
    transport.send(attempt, retryOf !== undefined && this.#for(retryOf.backend) === transport ? retryOf : undefined);
  }

  attach(backend: Backend): void {
    this.#for(backend).attach(backend);
  }

  detach(backend: Backend, cut?: Error): Promise<void> {
    return this.#for(backend).detach(backend, cut);
  }

  async cut(reason: Error): Promise<void> {
    await Promise.all([this.#http1.cut(reason), this.#h2.cut(reason)]);
  }

  setTimeout(ms: number, backends: readonly Backend[]): void {
    this.#http1.setTimeout(ms, backends.filter((b) => !isH2(b)));
    this.#h2.setTimeout(ms, backends.filter(isH2));
  }

  connections(backend: Backend): ConnectionStats {
    return this.#for(backend).connections(backend);
  }

  async close(): Promise<void> {
    await Promise.all([this.#http1.close(), this.#h2.close()]);
  }

  #for(backend: Backend): Transport {
    return isH2(backend) ? this.#h2 : this.#http1;
  }
}

/** A backend spoken to over HTTP/2. */
export function isH2(backend: Backend): boolean {
  return backend.proto === 'h2' || backend.proto === 'h2c';
}
