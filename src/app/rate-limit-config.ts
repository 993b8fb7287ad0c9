import type { Config } from '../config/index.js';
import { defaultBurst, type RateLimitSpec } from '../rate-limit/index.js';

/** RATE_LIMIT_* as one spec; undefined when RATE_LIMIT is not set. */
export function globalRateLimit(config: Config): RateLimitSpec | undefined {
  const r = config.rateLimit;
  if (r.rate === undefined) return undefined;
  return { rate: r.rate, burst: r.burst ?? defaultBurst(r.rate), key: r.key, mode: r.mode, tableSize: r.tableSize };
}
