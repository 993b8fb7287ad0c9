import { createHash } from 'node:crypto';
import type { RequestContext } from '../../context/index.js';
import type { AuthShared } from './auth-shared.js';
import type { ForwardAuthSpec } from './auth-spec.js';
import { authUnavailable, headerOf, PASS, type AuthPolicy, type Refusal, type Verdict } from './policy.js';
import { TtlCache } from './ttl-cache.js';

/** Largest auth service answer body passed to the client; a larger one is a broken auth service (503). */
export const FORWARD_AUTH_MAX_BODY = 64 * 1024;
/** Answers kept when `cacheTtl` is on. */
export const FORWARD_AUTH_CACHE_SIZE = 4096;

/** Headers of the auth service's answer that are its connection's, or ours to set. */
const NOT_COPIED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-length', 'date', 'x-request-id']);

/**
 * The ForwardAuth filter (Traefik's ForwardAuth, nginx's auth_request): each request is first
 * asked about to the auth service with a GET carrying the chosen request headers and where it
 * was going (`X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`, `-For`). A 2xx lets it through,
 * with the named headers of that answer set on it; any other answer goes to the client as it is
 * (status, headers, a body of at most FORWARD_AUTH_MAX_BODY). An auth service that cannot be
 * asked (refused, timed out, a broken answer) gets the client a 503, not a 500 (Traefik) nor a
 * 502: the balancer and the backend are fine, a dependency is not, and 503 says "try again".
 * With `cacheTtl`, 2xx and 4xx answers are reused for that long for the same values of the
 * forwarded headers (a SHA-256 of them is the key): so the auth service must decide on those
 * headers alone, not on the path.
 */
export class ForwardAuth implements AuthPolicy {
  readonly name = 'forward-auth';
  readonly keepAuthorization: boolean;
  readonly sets: readonly string[];
  readonly #spec: ForwardAuthSpec;
  readonly #shared: AuthShared;
  readonly #origin: string;
  readonly #path: string;
  readonly #cache: TtlCache<Verdict> | undefined;

  constructor(spec: ForwardAuthSpec, shared: AuthShared) {
    this.#spec = spec;
    this.#shared = shared;
    this.keepAuthorization = spec.keepAuthorization;
    this.sets = spec.authResponseHeaders.map((n) => n.toLowerCase());
    const url = new URL(spec.address);
    this.#origin = url.origin;
    this.#path = url.pathname + url.search;
    this.#cache = spec.cacheTtl > 0 ? new TtlCache(FORWARD_AUTH_CACHE_SIZE, spec.cacheTtl) : undefined;
  }

  check(ctx: RequestContext): Verdict | undefined {
    return this.#cache?.get(this.#key(ctx.req.rawHeaders));
  }

  async verify(ctx: RequestContext, signal: AbortSignal): Promise<Verdict> {
    const spec = this.#spec;
    const raw = ctx.req.rawHeaders;
    const headers: string[] = [];
    for (const name of spec.authRequestHeaders) {
      for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) headers.push(name, raw[i + 1]!);
    }
    headers.push('x-forwarded-method', ctx.method, 'x-forwarded-proto', ctx.proto, 'x-forwarded-host', headerOf(raw, 'host') ?? headerOf(raw, ':authority') ?? '',
      'x-forwarded-uri', ctx.path, 'x-forwarded-for', ctx.clientIp);
    if (ctx.id !== '') headers.push('x-request-id', ctx.id);
    let verdict: Verdict;
    try {
      const res = await this.#shared.agent.request({
        origin: this.#origin, path: this.#path, method: 'GET', headers, signal,
        headersTimeout: spec.timeout, bodyTimeout: spec.timeout,
      });
      if (res.statusCode >= 200 && res.statusCode < 300) {
        await res.body.dump();
        verdict = this.#grant(res.headers);
      } else {
        verdict = await this.#refusal(res.statusCode, res.headers, res.body);
      }
    } catch (err) {
      if (signal.aborted) throw err;
      return authUnavailable(`the ForwardAuth service ${spec.address} could not be asked: ${(err as Error).message}`);
    }
    if (this.#cache !== undefined && verdict !== undefined && (Array.isArray(verdict) || (verdict as Refusal).status < 500)) {
      this.#cache.set(this.#key(raw), verdict);
    }
    return verdict;
  }

  #grant(headers: Record<string, string | string[] | undefined>): Verdict {
    const names = this.#spec.authResponseHeaders;
    if (names.length === 0) return PASS;
    const set: string[] = [];
    for (const name of names) {
      const value = headers[name.toLowerCase()];
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) set.push(name, v);
    }
    return set;
  }

  async #refusal(status: number, headers: Record<string, string | string[] | undefined>, body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<Refusal> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += chunk.length;
      if (size > FORWARD_AUTH_MAX_BODY) {
        body.destroy();
        return authUnavailable(`the ForwardAuth service ${this.#spec.address} answered ${status} with a body over ${FORWARD_AUTH_MAX_BODY} bytes`);
      }
      chunks.push(chunk);
    }
    const copied: { name: string; value: string }[] = [];
    let contentType = 'text/plain; charset=utf-8';
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined || NOT_COPIED.has(name)) continue;
      if (name === 'content-type') { contentType = String(value); continue; }
      for (const v of Array.isArray(value) ? value : [value]) copied.push({ name, value: v });
    }
    return { code: 'LB_ERR_AUTH_DENIED', status, message: `the ForwardAuth service said ${status}`, headers: copied, contentType, body: Buffer.concat(chunks) };
  }

  /** A SHA-256 of the forwarded headers' values, in configured order (absent ones count too). */
  #key(raw: readonly string[]): string {
    const hash = createHash('sha256');
    for (const name of this.#spec.authRequestHeaders) {
      hash.update(name).update('\0');
      for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) hash.update(raw[i + 1]!).update('\0');
      hash.update('\n');
    }
    return hash.digest('base64');
  }
}
