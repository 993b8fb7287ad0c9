export { limitId, RateAuthority, type Authority, type Verdict } from './authority.js';
export { Gcra } from './gcra.js';
export { defaultBurst, parseRate, type Rate } from './rate.js';
export { RATE_LIMIT_POLICY, RATE_LIMITED, RateLimiter, type RateLimitCounts } from './rate-limiter.js';
export { RateLimits } from './rate-limits.js';
export { parseRateLimitKey, RATE_LIMIT_MODES, sameSpec, type RateLimitMode, type RateLimitSpec } from './spec.js';
