import { Agent } from 'undici';
import type { Logger } from 'pino';
import type { RequestContext } from '../context/index.js';
import type { BackendTls, Pool } from '../pool/index.js';
import { backendConnector } from '../tls/backend-tls.js';
import { upstreamRequestHeaders, type RequestHeaderInfo } from '../proxy/headers.js';

/** Mirrored requests in flight at once, over all mirrors of a balancer: beyond, a copy is skipped. */
export const MIRROR_MAX_IN_FLIGHT = 256;

/** Largest request body mirrored (held in memory until whole); larger bodies are not mirrored. */
export const MIRROR_MAX_BODY = 64 * 1024;

interface MirrorRequest {
  readonly origin: string;
  readonly path: string;
  readonly method: string;
  readonly headers: string[];
  readonly timeout: number;
  readonly backend: string;
}

/** The Content-Length among forwarded headers, or -1 (a chunked body). */
function contentLength(headers: readonly string[]): number {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.length === 14 && headers[i]!.toLowerCase() === 'content-length') return Number(headers[i + 1]);
  }
  return -1;
}

/** What became of mirrored copies since start-up, by outcome. */
export interface MirrorCounts {
  sent: number;
  answered: number;
  failed: number;
  /** Not sent: too many in flight, no backend available in the mirror pool, or a body too large, chunked or never whole. */
  skippedBusy: number;
  skippedNoBackend: number;
  skippedBody: number;
}

/**
 * Sends copies of requests to a mirror pool (Gateway API's RequestMirror), fire and forget:
 * the client's answer never waits for a copy nor depends on it, and a copy's answer is read and
 * thrown away. Copies take the mirror pool's available backends in turn (its strategy and
 * counters are the real traffic's), on their own connections, at most MIRROR_MAX_IN_FLIGHT at
 * once, each within the pool's PROXY_TIMEOUT. A request body is copied as it streams to the real
 * backend and the copy sent once whole, when it has a Content-Length of at most MIRROR_MAX_BODY;
 * larger and chunked bodies are not mirrored (holding them would cost memory per request).
 */
export class Mirrors {
  readonly counts: MirrorCounts = { sent: 0, answered: 0, failed: 0, skippedBusy: 0, skippedNoBackend: 0, skippedBody: 0 };
  readonly #agent: Agent;
  readonly #log: Logger;
  #inFlight = 0;
  #turn = 0;

  constructor(tls: BackendTls, log: Logger) {
    this.#agent = new Agent({ connections: 64, keepAliveTimeout: 4000, connect: backendConnector(tls, 10_000) });
    this.#log = log;
  }

  /** Sends a copy of `ctx`'s request to one of `pool`'s available backends, within `timeout` ms. */
  send(ctx: RequestContext, pool: Pool, timeout: number, percent: number): void {
    if (percent < 100 && Math.random() * 100 >= percent) return;
    const info: RequestHeaderInfo = { host: undefined, hasBody: false };
    const headers = upstreamRequestHeaders(ctx.req.rawHeaders, ctx.clientIp, ctx.proto, ctx.id, info, false, ctx.clientCertificate?.xfcc);
    let length = 0;
    if (info.hasBody) {
      length = contentLength(headers);
      // A chunked body has no length to hold it to; a large one is not held at all.
      if (length < 0 || length > MIRROR_MAX_BODY) { this.counts.skippedBody++; return; }
    }
    if (this.#inFlight >= MIRROR_MAX_IN_FLIGHT) { this.counts.skippedBusy++; return; }
    const available = pool.available;
    if (available.length === 0) { this.counts.skippedNoBackend++; return; }
    const backend = available[this.#turn++ % available.length]!;
    this.#inFlight++;
    const request = { origin: backend.origin, path: backend.pathPrefix + (ctx.req.url ?? '/'), method: ctx.req.method ?? 'GET', headers, timeout, backend: backend.id };
    if (length === 0) { this.#dispatch(request, undefined); return; }
    // The body is copied as it goes to the real backend; the copy leaves once it is whole.
    const chunks: Buffer[] = [];
    let held = 0;
    let abandoned = false;
    const keep = (chunk: Buffer | string): void => {
      if (held >= length || abandoned) return;
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
      chunks.push(Buffer.from(buffer));
      held += buffer.length;
      if (held >= length) this.#dispatch(request, Buffer.concat(chunks).subarray(0, length));
    };
    const before = ctx.bodyTap;
    ctx.bodyTap = before === undefined ? keep : (chunk) => { before(chunk); keep(chunk); };
    // A body that never arrives whole (the client left, the request failed) frees its place.
    const give = setTimeout(() => {
      if (held < length) { abandoned = true; this.#inFlight--; this.counts.skippedBody++; }
    }, timeout);
    give.unref();
  }

  #dispatch(request: MirrorRequest, body: Buffer | undefined): void {
    this.counts.sent++;
    const { origin, path, method, headers, timeout, backend } = request;
    this.#agent.request({ origin, path, method: method as 'GET', headers, body, headersTimeout: timeout, bodyTimeout: timeout })
      .then(async (res) => {
        await res.body.dump();
        this.counts.answered++;
      }, (err: Error) => {
        this.counts.failed++;
        this.#log.debug({ backend, err: err.message }, 'mirrored request failed');
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
