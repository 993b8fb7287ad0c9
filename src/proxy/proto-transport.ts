import type { Backend } from '../pool/index.js';
import type { Attempt } from './attempt.js';
import { ProxyError } from '../errors/index.js';
import type { Negotiated } from './alpn.js';
import type { H2Transport } from './h2-transport.js';
import { H2Stream } from './h2-stream.js';
import type { ConnectionStats, Transport } from './transport.js';

/** Attempts waiting for their backend's protocol, each with the attempt it retries (or undefined). */
type Waiting = (Attempt | undefined)[];

/**
 * The one transport a balancer's services share, made of two or three: each attempt goes by its
 * backend's protocol, HTTP/2 ones (`h2`, `h2c`) to the h2 transport and `http1` to the engine's
 * HTTP/1.1 transport. An `auto` https:// backend goes by what ALPN chose on the first connection
 * to it (learned on its first request; requests meanwhile wait for it, within CONNECT_TIMEOUT),
 * and learns again after a connection failure; `auto` means HTTP/1.1 for http:// backends, and
 * for all of them when `negotiates` is off (the fast engine's requests cannot go to the h2
 * transport). With the fast engine, whose transport reads only its own requests, the requests of
 * HTTP/2 clients (node:http2's, h2c on its listeners) go to HTTP/1.1 backends through the node
 * transport (`h2Clients`). A retry keeps its predecessor's prepared request only when both go the
 * same way.
 */
export class ProtoTransport implements Transport {
  readonly name: string;
  readonly #http1: Transport;
  readonly #h2: H2Transport;
  readonly #negotiates: boolean;
  /** For HTTP/2 clients' requests to HTTP/1.1 backends: `http1`, or the node transport beside the fast one. */
  readonly #h2Clients: Transport;
  /** `auto` backends whose protocol is being learned, and the attempts waiting for it. */
  readonly #learning = new Map<Backend, Waiting>();

  constructor(http1: Transport, h2: H2Transport, negotiates = true, h2Clients: Transport = http1) {
    this.#http1 = http1;
    this.#h2 = h2;
    this.#negotiates = negotiates;
    this.#h2Clients = h2Clients;
    this.name = http1.name;
  }

  send(attempt: Attempt, retryOf: Attempt | undefined): void {
    const backend = attempt.backend;
    let transport: Transport;
    if (backend.proto === 'auto' && this.#negotiates) {
      // An upgrade (WebSocket) goes over HTTP/1.1 whatever ALPN chose: extended CONNECT (RFC 8441) is not spoken here.
      if (attempt.ctx.upgrade) {
        transport = this.#http1For(attempt);
      } else if (backend.negotiated === undefined) {
        this.#wait(attempt, retryOf);
        return;
      } else {
        transport = this.#for(attempt);
      }
    } else {
      transport = this.#for(attempt);
    }
    transport.send(attempt, retryOf !== undefined && retryOf.stream !== undefined && this.#carried(retryOf) === transport ? retryOf : undefined);
  }

  /** The transport that carried `attempt`, by its stream (an auto backend's choice may have changed since). */
  #carried(attempt: Attempt): Transport {
    return attempt.stream instanceof H2Stream ? this.#h2 : this.#http1For(attempt);
  }

  attach(backend: Backend): void {
    for (const transport of this.#of(backend)) transport.attach(backend);
  }

  async detach(backend: Backend, cut?: Error): Promise<void> {
    // A backend added again is a new Backend: an `auto` one learns its protocol anew.
    await Promise.all(this.#of(backend).map((t) => t.detach(backend, cut)));
  }

  async cut(reason: Error): Promise<void> {
    this.#stopWaiting(reason);
    await Promise.all(this.#all().map((t) => t.cut(reason)));
  }

  setTimeout(ms: number, backends: readonly Backend[]): void {
    const http1 = backends.filter((b) => !isH2(b));
    this.#http1.setTimeout(ms, http1);
    if (this.#h2Clients !== this.#http1) this.#h2Clients.setTimeout(ms, http1);
    // The h2 transport leaves PROXY_TIMEOUT to the attempt.
    this.#h2.setTimeout();
  }

  connections(backend: Backend): ConnectionStats {
    const open = { open: 0, busy: 0, idle: 0 };
    for (const transport of this.#of(backend)) {
      const c = transport.connections(backend);
      open.open += c.open;
      open.busy += c.busy;
      open.idle += c.idle;
    }
    return open;
  }

  async close(): Promise<void> {
    this.#stopWaiting(new ProxyError('LB_ERR_SHUTDOWN', 'the transport closed'));
    await Promise.all(this.#all().map((t) => t.close()));
  }

  /** Attempts waiting for a protocol to be learned end with `reason`, as those in flight on a connection do. */
  #stopWaiting(reason: Error): void {
    const all = [...this.#learning.values()];
    this.#learning.clear();
    for (const waiting of all) for (let i = 0; i < waiting.length; i += 2) waiting[i]!.cancel(reason);
  }

  #for(attempt: Attempt): Transport {
    const backend = attempt.backend;
    return isH2(backend) || (backend.negotiated === 'h2' && this.#negotiates) ? this.#h2 : this.#http1For(attempt);
  }

  /** The HTTP/1.1 transport that can read `attempt`'s request. */
  #http1For(attempt: Attempt): Transport {
    return attempt.ctx.req.httpVersionMajor === 2 ? this.#h2Clients : this.#http1;
  }

  /** The transports that may carry requests to `backend`. */
  #of(backend: Backend): Transport[] {
    if (isH2(backend)) return [this.#h2];
    const list = this.#h2Clients === this.#http1 ? [this.#http1] : [this.#http1, this.#h2Clients];
    if (backend.proto === 'auto' && this.#negotiates) list.push(this.#h2);
    return list;
  }

  #all(): Transport[] {
    return this.#h2Clients === this.#http1 ? [this.#http1, this.#h2] : [this.#http1, this.#h2Clients, this.#h2];
  }

  /** `attempt` waits for its backend's protocol; the first to wait has it learned. */
  #wait(attempt: Attempt, retryOf: Attempt | undefined): void {
    const backend = attempt.backend;
    const waiting = this.#learning.get(backend);
    if (waiting !== undefined) {
      waiting.push(attempt, retryOf);
      return;
    }
    this.#learning.set(backend, [attempt, retryOf]);
    this.#h2.negotiate(backend, (result) => this.#learned(backend, result));
  }

  /** ALPN has answered (or no connection could be made): the attempts waiting go, or fail as a connect failure fails them. */
  #learned(backend: Backend, result: Negotiated | ProxyError): void {
    const waiting = this.#learning.get(backend) ?? [];
    this.#learning.delete(backend);
    if (typeof result === 'string') backend.negotiate(result);
    for (let i = 0; i < waiting.length; i += 2) {
      const attempt = waiting[i]!;
      // Ended while it waited (its client left, a deadline): nothing to send.
      if (attempt.ended) continue;
      if (typeof result === 'string') {
        this.send(attempt, waiting[i + 1]);
      } else {
        attempt.dispatched = true;
        attempt.failed(result);
      }
    }
  }
}

/** A backend spoken to over HTTP/2 by its configuration. */
export function isH2(backend: Backend): boolean {
  return backend.proto === 'h2' || backend.proto === 'h2c';
}
