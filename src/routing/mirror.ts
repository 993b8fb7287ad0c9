import { Agent } from 'undici';
import type { Logger } from 'pino';
import type { RequestContext } from '../context/index.js';
import { tlsConnectOptions, type BackendTls, type Pool } from '../pool/index.js';
import { upstreamRequestHeaders, type RequestHeaderInfo } from '../proxy/headers.js';

/** Mirrored requests in flight at once, over all mirrors of a balancer: beyond, a copy is skipped. */
export const MIRROR_MAX_IN_FLIGHT = 256;

/** What became of mirrored copies since start-up, by outcome. */
export interface MirrorCounts {
  sent: number;
  answered: number;
  failed: number;
  /** Not sent: too many in flight, no backend available in the mirror pool, or a request body. */
  skippedBusy: number;
  skippedNoBackend: number;
  skippedBody: number;
}

/**
 * Sends copies of requests to a mirror pool (Gateway API's RequestMirror), fire and forget:
 * the client's answer never waits for a copy nor depends on it, and a copy's answer is read and
 * thrown away. Copies take the mirror pool's available backends in turn (its strategy and
 * counters are the real traffic's), on their own connections, at most MIRROR_MAX_IN_FLIGHT at
 * once, each within the pool's PROXY_TIMEOUT. Requests with a body are not mirrored: the body
 * streams to the real backend as it arrives, and holding a copy would cost memory per request.
 */
export class Mirrors {
  readonly counts: MirrorCounts = { sent: 0, answered: 0, failed: 0, skippedBusy: 0, skippedNoBackend: 0, skippedBody: 0 };
  readonly #agent: Agent;
  readonly #log: Logger;
  #inFlight = 0;
  #turn = 0;

  constructor(tls: BackendTls, log: Logger) {
    this.#agent = new Agent({ connections: 64, keepAliveTimeout: 4000, connect: tlsConnectOptions(tls) });
    this.#log = log;
  }

  /** Sends a copy of `ctx`'s request to one of `pool`'s available backends, within `timeout` ms. */
  send(ctx: RequestContext, pool: Pool, timeout: number, percent: number): void {
    if (percent < 100 && Math.random() * 100 >= percent) return;
    const info: RequestHeaderInfo = { host: undefined, hasBody: false };
    const headers = upstreamRequestHeaders(ctx.req.rawHeaders, ctx.clientIp, ctx.proto, ctx.id, info);
    if (info.hasBody) { this.counts.skippedBody++; return; }
    if (this.#inFlight >= MIRROR_MAX_IN_FLIGHT) { this.counts.skippedBusy++; return; }
    const available = pool.available;
    if (available.length === 0) { this.counts.skippedNoBackend++; return; }
    const backend = available[this.#turn++ % available.length]!;
    this.#inFlight++;
    this.counts.sent++;
    const path = backend.pathPrefix + (ctx.req.url ?? '/');
    this.#agent.request({ origin: backend.origin, path, method: (ctx.req.method ?? 'GET') as 'GET', headers, headersTimeout: timeout, bodyTimeout: timeout })
      .then(async (res) => {
        await res.body.dump();
        this.counts.answered++;
      }, (err: Error) => {
        this.counts.failed++;
        this.#log.debug({ backend: backend.id, err: err.message }, 'mirrored request failed');
      })
      .finally(() => { this.#inFlight--; });
  }

  /** In flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  async close(): Promise<void> {
    await this.#agent.destroy();
  }
}
