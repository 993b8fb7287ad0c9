import type { Rate } from './rate.js';
import { CLAIM_NAME, parseTlvKey } from '../edge/request-keys.js';

export const RATE_LIMIT_MODES = ['enforce', 'shadow'] as const;
export type RateLimitMode = (typeof RATE_LIMIT_MODES)[number];

/** A rate limit as configured (RATE_LIMIT_*, or a route's RateLimit filter). */
export interface RateLimitSpec {
  readonly rate: Rate;
  /** Requests a key may send at once (GCRA's burst). */
  readonly burst: number;
  /** `ip`, `route`, `header:<name>` (lower case), `cookie:<name>`, `tlv:<name or 0xNN>` or `jwt:<claim>`. */
  readonly key: string;
  readonly mode: RateLimitMode;
  /** Most keys kept; the least recently used is forgotten beyond. */
  readonly tableSize: number;
}

/**
 * Parses a RATE_LIMIT_KEY; undefined when it is none. `tlv:<type or name>` is a TLV of the
 * connection's PROXY protocol v2 header, `jwt:<claim>` a claim of the token the route's JWT
 * filter verified (such a limit is taken after that filter).
 */
export function parseRateLimitKey(text: string): string | undefined {
  if (text === 'ip' || text === 'route') return text;
  if (text.startsWith('tlv:')) {
    const tlv = parseTlvKey(text.slice(4));
    return tlv === undefined ? undefined : `tlv:${tlv.name}`;
  }
  if (text.startsWith('jwt:')) return CLAIM_NAME.test(text.slice(4)) ? text : undefined;
  const m = /^(header|cookie):([!#$%&'*+.^_`|~0-9A-Za-z-]+)$/.exec(text);
  if (m === null) return undefined;
  return m[1] === 'header' ? `header:${m[2]!.toLowerCase()}` : text;
}

/** Whether two specs are one limit (a reload that leaves it keeps its table). */
export function sameSpec(a: RateLimitSpec | undefined, b: RateLimitSpec | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.rate.text === b.rate.text && a.burst === b.burst && a.key === b.key && a.mode === b.mode && a.tableSize === b.tableSize;
}
