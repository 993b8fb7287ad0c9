/**
 * Go-style durations (`time.ParseDuration`): a sequence of decimal numbers, each with a unit,
 * such as `250ms`, `10s`, `1m30s` or `1.5h`. A bare `0` is allowed, as in Go. Negative values
 * are rejected: no setting of ours means anything by them.
 */
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Returns the duration in milliseconds, or undefined when `text` is not a valid duration. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (text.length === 0) return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const match = PART.exec(text);
    if (match === null) return undefined;
    total += Number(match[1]) * (UNIT_MS[match[2]!] ?? Number.NaN);
  }
  return Number.isFinite(total) ? total : undefined;
}

/** Formats milliseconds the way Go prints a duration, for logs and `--help`: 1m30s, 250ms. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let rest = ms;
  let out = '';
  const hours = Math.floor(rest / 3_600_000);
  if (hours > 0) { out += `${hours}h`; rest -= hours * 3_600_000; }
  const minutes = Math.floor(rest / 60_000);
  if (minutes > 0) { out += `${minutes}m`; rest -= minutes * 60_000; }
  if (rest > 0 || out === '') out += `${rest / 1000}s`;
  return out;
}
