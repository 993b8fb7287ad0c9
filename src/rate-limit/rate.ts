import { InvalidValue } from '../config/errors.js';

/** A rate: `count` requests per `period` ms. */
export interface Rate {
  readonly count: number;
  readonly period: number;
  /** As configured, e.g. `100/s`. */
  readonly text: string;
}

const PERIODS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000 };
const EXPECTED = 'a rate such as 100/s, 6000/m or 50000/h (a whole number of requests per s, m or h)';

/** Parses `N/s`, `N/m` or `N/h`. Throws InvalidValue. */
export function parseRate(value: unknown): Rate {
  const m = typeof value === 'string' ? /^(\d{1,9})\s*\/\s*(s|m|h)$/.exec(value.trim()) : null;
  const count = m === null ? 0 : Number(m[1]);
  if (m === null || count < 1) throw new InvalidValue(EXPECTED);
  return { count, period: PERIODS[m[2]!]!, text: `${count}/${m[2]}` };
}

/** The burst when none is given: one second's worth of the rate, at least 1. */
export function defaultBurst(rate: Rate): number {
  return Math.max(1, Math.ceil((rate.count * 1000) / rate.period));
}
