import type { RouteSpec } from '../routing/route-spec.js';
import { Gcra } from './gcra.js';
import { sameSpec, type RateLimitSpec } from './spec.js';

/** One decision: `left` ≥ 0 admitted (what is left at once), < 0 refused (-ms until one is); `reset` ms until the burst is back. */
export interface Verdict {
  readonly left: number;
  readonly reset: number;
}

/** Asks the process that keeps a limit's tables for a decision (a cluster worker asks the primary). */
export type Authority = (limit: string, key: string) => Promise<Verdict>;

/** The id of a limit across processes: '' for RATE_LIMIT, `route:NAME` for a route's RateLimit filter. */
export function limitId(route: string | undefined): string {
  return route === undefined ? '' : `route:${route}`;
}

/**
 * The tables of every limit of a configuration, in the one process that decides for a process
 * group (the cluster primary): each worker asks it per request, so the group admits what one
 * process would. A reload keeps the tables of the limits it leaves as they were.
 */
export class RateAuthority {
  #tables = new Map<string, { spec: RateLimitSpec; gcra: Gcra }>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Makes the tables of `global` and of the routes' RateLimit filters. */
  configure(global: RateLimitSpec | undefined, routes: readonly RouteSpec[]): void {
    const wanted = new Map<string, RateLimitSpec>();
    if (global !== undefined) wanted.set(limitId(undefined), global);
    for (const r of routes) for (const f of r.filters) if (f.type === 'RateLimit') wanted.set(limitId(r.name), f.rateLimit);
    const tables = new Map<string, { spec: RateLimitSpec; gcra: Gcra }>();
    for (const [id, spec] of wanted) {
      const before = this.#tables.get(id);
      tables.set(id, before !== undefined && sameSpec(before.spec, spec) ? before : { spec, gcra: new Gcra(spec.rate.count, spec.rate.period, spec.burst, spec.tableSize) });
    }
    this.#tables = tables;
  }

  /** Takes one request of `key` on `limit`; a limit it does not know (a reload under way) admits. */
  decide(limit: string, key: string): Verdict {
    const table = this.#tables.get(limit);
    if (table === undefined) return { left: 0, reset: 0 };
    const now = this.#now();
    const left = table.gcra.take(key, now);
    return { left, reset: left >= 0 ? table.gcra.resetIn(key, now) : 0 };
  }
}
