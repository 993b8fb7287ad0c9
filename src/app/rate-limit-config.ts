import { ConfigError, type Config } from '../config/index.js';
import { defaultBurst, type RateLimitSpec } from '../rate-limit/index.js';

/** RATE_LIMIT_* as one spec; undefined when RATE_LIMIT is not set. */
export function globalRateLimit(config: Config): RateLimitSpec | undefined {
  const r = config.rateLimit;
  if (r.rate === undefined) return undefined;
  return { rate: r.rate, burst: r.burst ?? defaultBurst(r.rate), key: r.key, mode: r.mode, tableSize: r.tableSize };
}

/** True when RATE_LIMIT or a route's RateLimit filter is configured. */
export function hasRateLimits(config: Config): boolean {
  return config.rateLimit.rate !== undefined || config.routes.some((r) => r.filters.some((f) => f.type === 'RateLimit'));
}

/**
 * Each worker keeps its own key tables, so with several workers a limit would admit up to N
 * times its rate, depending on how the kernel spreads connections: refused at start-up rather
 * than enforced wrongly (see docs/rate-limits.md).
 */
export function checkRateLimitWorkers(config: Config, workers: number): void {
  if (workers > 1 && hasRateLimits(config)) {
    throw new ConfigError(`RATE_LIMIT (or a route's RateLimit filter) with WORKERS=${config.workers} (${workers} processes): rate limits are kept per process, so they cannot hold for the whole group yet; run one process (WORKERS=0) with a rate limit`);
  }
}
