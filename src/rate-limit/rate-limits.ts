import type { Logger } from 'pino';
import type { RequestContext } from '../context/index.js';
import { RateLimiter, type RateLimitCounts } from './rate-limiter.js';
import type { RouteSpec } from '../routing/route-spec.js';
import { limitId, type Authority } from './authority.js';
import { sameSpec, type RateLimitSpec } from './spec.js';

/**
 * The rate limits of one balancer: the global one (RATE_LIMIT) and a factory for routes' own
 * (RateLimit filters), which share the clock, the logger and the counters. The counters outlive
 * reloads; the key tables are made anew with the limits a reload brings.
 */
export class RateLimits {
  readonly counts: RateLimitCounts = { refused: new Map(), shadow: new Map() };
  /** RATE_LIMIT's limiter; undefined when it is off (the one check a request pays then). */
  global: RateLimiter | undefined;
  readonly #log: Logger;
  readonly #now: () => number;
  /** Routes' own limiters by route name, as last compiled. */
  #byRoute = new Map<string, RateLimiter>();

  /** Where decisions are taken when not in this process (a cluster worker: the primary). */
  readonly #authority: Authority | undefined;

  constructor(spec: RateLimitSpec | undefined, log: Logger, now: () => number, authority?: Authority) {
    this.#log = log;
    this.#now = now;
    this.#authority = authority;
    this.global = this.#make(spec, 'default');
  }

  /** Replaces the global limit (a reload); its table starts empty. */
  configure(spec: RateLimitSpec | undefined): void {
    if (sameSpec(spec, this.global?.spec)) return;
    this.global = this.#make(spec, 'default');
  }

  /**
   * Each route's limiter by index: its RateLimit filter's (named after the route in the
   * headers), else the global one. A route whose filter a reload left as it was keeps its
   * limiter, table and all; a changed or new one starts empty.
   */
  forRoutes(routes: readonly RouteSpec[]): (RateLimiter | undefined)[] {
    const kept = new Map<string, RateLimiter>();
    const limiters = routes.map((r) => {
      const own = r.filters.find((f) => f.type === 'RateLimit');
      if (own === undefined) return this.global;
      const before = this.#byRoute.get(r.name);
      const limiter = before !== undefined && sameSpec(before.spec, own.rateLimit) ? before : this.#limiter(own.rateLimit, r.name, limitId(r.name));
      kept.set(r.name, limiter);
      return limiter;
    });
    this.#byRoute = kept;
    return limiters;
  }

  /** Wraps `next` (requests that no route handles) with the global limit, or returns it as is when there is none. */
  guard(next: (ctx: RequestContext) => void): (ctx: RequestContext) => void {
    return (ctx) => {
      const limiter = this.global;
      if (limiter === undefined) return next(ctx);
      const verdict = limiter.admit(ctx, '');
      if (verdict === true) next(ctx);
      else if (verdict !== false) void verdict.then((ok) => { if (ok && !ctx.clientClosed) next(ctx); });
    };
  }

  #make(spec: RateLimitSpec | undefined, name: string): RateLimiter | undefined {
    return spec === undefined ? undefined : this.#limiter(spec, name, limitId(undefined), 'RATE_LIMIT');
  }

  #limiter(spec: RateLimitSpec, name: string, id: string, rule?: string): RateLimiter {
    const remote = this.#authority === undefined ? undefined : { authority: this.#authority, id };
    return new RateLimiter(spec, name, this.counts, this.#log, this.#now, remote, rule);
  }
}
