import type { Rate } from './rate.js';

export const RATE_LIMIT_MODES = ['enforce', 'shadow'] as const;
export type RateLimitMode = (typeof RATE_LIMIT_MODES)[number];

/** A rate limit as configured (RATE_LIMIT_*, or a route's RateLimit filter). */
export interface RateLimitSpec {
  readonly rate: Rate;
  /** Requests a key may send at once (GCRA's burst). */
  readonly burst: number;
  /** `ip`, `route`, `header:<name>` (lower case) or `cookie:<name>`. */
  readonly key: string;
  readonly mode: RateLimitMode;
  /** Most keys kept; the least recently used is forgotten beyond. */
  readonly tableSize: number;
}

/** Parses a RATE_LIMIT_KEY; undefined when it is none. */
export function parseRateLimitKey(text: string): string | undefined {
  if (text === 'ip' || text === 'route') return text;
  const m = /^(header|cookie):([!#$%&'*+.^_`|~0-9A-Za-z-]+)$/.exec(text);
  if (m === null) return undefined;
  return m[1] === 'header' ? `header:${m[2]!.toLowerCase()}` : text;
}

/** Whether two specs are one limit (a reload that leaves it keeps its table). */
export function sameSpec(a: RateLimitSpec | undefined, b: RateLimitSpec | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.rate.text === b.rate.text && a.burst === b.burst && a.key === b.key && a.mode === b.mode && a.tableSize === b.tableSize;
}
