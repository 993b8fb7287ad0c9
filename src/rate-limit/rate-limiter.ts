import type { Logger } from 'pino';
import type { RequestContext } from '../context/index.js';
import { cookieValueAt } from '../balancer/hash-key.js';
import { claimText, parseTlvKey, tlvText, type TlvKey } from '../edge/request-keys.js';
import { ProxyError } from '../errors/index.js';
import { answer } from '../routing/compiled-route.js';
import { notePolicy, ruleOf, shownKey } from '../proxy/policy-explain.js';
import type { Authority } from './authority.js';
import { Gcra } from './gcra.js';
import type { RateLimitSpec } from './spec.js';

/** Refusals and shadow refusals by route ('' for requests no route matched), kept across reloads. */
export interface RateLimitCounts {
  readonly refused: Map<string, number>;
  readonly shadow: Map<string, number>;
}

export const RATE_LIMITED = new ProxyError('LB_ERR_RATE_LIMITED', 'too many requests: over the rate limit');
const BODY = Buffer.from('429 Too Many Requests\n');
/** The access line's `policy` for a request this policy refused (or would have, in shadow mode). */
export const RATE_LIMIT_POLICY = 'rate-limit';
/** At most one shadow-mode warning per this many ms per limit: what would be refused is counted, not logged line by line. */
const SHADOW_LOG_EVERY = 1000;

type Key = { readonly kind: 'ip' | 'route' } | { readonly kind: 'header' | 'cookie' | 'jwt'; readonly name: string } | { readonly kind: 'tlv'; readonly tlv: TlvKey };

/**
 * One rate limit with its own key table: decides per request, adds the `RateLimit` header to
 * what it admits and answers 429 to what it refuses (draft-ietf-httpapi-ratelimit-headers-10).
 * In shadow mode it admits everything and counts and logs what it would have refused.
 */
export class RateLimiter {
  readonly spec: RateLimitSpec;
  /**
   * Keyed by a claim of the verified token (`jwt:`): taken after the route's authentication
   * filter, not before it as the others are (a request without a verified token counts under '').
   */
  readonly afterAuth: boolean;
  /** The key table; undefined when the decisions are taken elsewhere (`remote`). */
  readonly #gcra: Gcra | undefined;
  readonly #key: Key;
  readonly #shadow: boolean;
  /** `"name"` as a structured-field string, and the `RateLimit-Policy` value: made once. */
  readonly #name: string;
  readonly #policy: string;
  readonly #counts: RateLimitCounts;
  readonly #log: Logger;
  readonly #now: () => number;
  /** Where decisions are taken when not here (a cluster worker: the primary), and this limit's id there. */
  readonly #authority: Authority | undefined;
  readonly #id: string;
  /** What X-LB-Explain names it: `RATE_LIMIT`, or `route api: RateLimit filter`. */
  readonly rule: string;
  #lastShadowLog = -Infinity;
  #shadowUnlogged = 0;

  constructor(spec: RateLimitSpec, name: string, counts: RateLimitCounts, log: Logger, now: () => number, remote?: { authority: Authority; id: string }, rule = ruleOf(name, 'RateLimit', 'RATE_LIMIT')) {
    this.spec = spec;
    this.rule = rule;
    this.#authority = remote?.authority;
    this.#id = remote?.id ?? '';
    this.#gcra = remote === undefined ? new Gcra(spec.rate.count, spec.rate.period, spec.burst, spec.tableSize) : undefined;
    const colon = spec.key.indexOf(':');
    const kind = spec.key.slice(0, colon);
    this.#key = colon < 0 ? { kind: spec.key as 'ip' | 'route' }
      : kind === 'tlv' ? { kind, tlv: parseTlvKey(spec.key.slice(colon + 1))! }
      : { kind: kind as 'header' | 'cookie' | 'jwt', name: spec.key.slice(colon + 1) };
    this.afterAuth = kind === 'jwt';
    this.#shadow = spec.mode === 'shadow';
    this.#name = `"${name.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, '\\$&')}"`;
    // q requests per w seconds: the burst, over the time the rate takes to give it back.
    this.#policy = `${this.#name};q=${spec.burst};w=${Math.max(1, Math.ceil((spec.burst * spec.rate.period) / spec.rate.count / 1000))}`;
    this.#counts = counts;
    this.#log = log;
    this.#now = now;
  }

  /** The `RateLimit-Policy` value. */
  get policy(): string {
    return this.#policy;
  }

  /** Keys in the table now (0 when the table is another process's). */
  get keys(): number {
    return this.#gcra?.size ?? 0;
  }

  /**
   * Takes one request on `route` ('' when no route matched). True: send it on (it carries the
   * `RateLimit` header unless in shadow mode); false: it has been answered 429. A promise of
   * either when the decision is taken in another process (a cluster's primary).
   */
  admit(ctx: RequestContext, route: string): boolean | Promise<boolean> {
    const key = this.#keyOf(ctx, route);
    const gcra = this.#gcra;
    if (gcra === undefined) return this.#authority!(this.#id, key).then((v) => this.#apply(ctx, route, key, v.left, v.reset));
    const now = this.#now();
    const left = gcra.take(key, now);
    return this.#apply(ctx, route, key, left, left >= 0 ? gcra.resetIn(key, now) : 0);
  }

  #apply(ctx: RequestContext, route: string, key: string, left: number, reset: number): boolean {
    if (ctx.explaining === true) this.#explain(ctx, key, left, reset);
    if (left >= 0) {
      if (!this.#shadow) ctx.addResponseHeader('ratelimit', `${this.#name};r=${left};t=${Math.ceil(reset / 1000)}`);
      return true;
    }
    const now = this.#now();
    const counts = this.#shadow ? this.#counts.shadow : this.#counts.refused;
    counts.set(route, (counts.get(route) ?? 0) + 1);
    if (this.#shadow) {
      this.#logShadow(key, route, now);
      return true;
    }
    const retryAfter = Math.max(1, Math.ceil(-left / 1000));
    ctx.error = RATE_LIMITED;
    ctx.policy = RATE_LIMIT_POLICY;
    const res = ctx.res;
    res.setHeader('retry-after', retryAfter);
    res.setHeader('ratelimit-policy', this.#policy);
    res.setHeader('ratelimit', `${this.#name};r=0;t=${retryAfter}`);
    answer(ctx, 429, BODY, undefined);
    return false;
  }

  /** Its decision, for X-LB-Explain: what is left (allowed), when to come back (refused), or that shadow mode let it through. */
  #explain(ctx: RequestContext, key: string, left: number, reset: number): void {
    const over = left < 0;
    notePolicy(ctx, {
      policy: RATE_LIMIT_POLICY, rule: this.rule, key: shownKey(this.spec.key, key),
      decision: !over ? 'allowed' : this.#shadow ? 'would-refuse' : 'refused',
      limit: this.spec.rate.text, burst: this.spec.burst, mode: this.spec.mode,
      ...(over ? { retryAfter: Math.max(1, Math.ceil(-left / 1000)) } : { remaining: left, resetSeconds: Math.ceil(reset / 1000) }),
    });
  }

  #keyOf(ctx: RequestContext, route: string): string {
    const key = this.#key;
    switch (key.kind) {
      case 'ip': return ctx.clientIp;
      case 'route': return route;
      case 'header': {
        const value = ctx.headers[key.name];
        return (typeof value === 'string' ? value : value?.[0]) ?? '';
      }
      case 'cookie': {
        const cookie = ctx.headers.cookie;
        const start = cookie === undefined ? -1 : cookieValueAt(cookie, key.name);
        if (start < 0) return '';
        const end = cookie!.indexOf(';', start);
        return cookie!.slice(start, end < 0 ? cookie!.length : end);
      }
      case 'tlv': return tlvText(ctx.proxyTlvs, key.tlv) ?? '';
      case 'jwt': return claimText(ctx.jwtClaims, key.name) ?? '';
    }
  }

  #logShadow(key: string, route: string, now: number): void {
    if (now - this.#lastShadowLog < SHADOW_LOG_EVERY) {
      this.#shadowUnlogged++;
      return;
    }
    this.#log.warn({ code: RATE_LIMITED.code, policy: RATE_LIMIT_POLICY, mode: 'shadow', key, route, rate: this.spec.rate.text, burst: this.spec.burst, alsoOverSinceLastLine: this.#shadowUnlogged },
      'rate limit (shadow): would have refused a request');
    this.#lastShadowLog = now;
    this.#shadowUnlogged = 0;
  }
}
