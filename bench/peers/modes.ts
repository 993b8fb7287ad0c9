/**
 * The modes of `npm run bench:peers`: each one a way users load a proxy (body size, connection
 * count, connection reuse, TLS, HTTP/2, uploads, a fixed rate, idle clients), measured on the
 * balancer and every installed peer in the same run. Pure data and parsing, so the option
 * parser and the help text are tested without starting anything.
 */

/** Which client drives a mode (bench/peers/load.ts). */
export type Driver = 'wrk' | 'h2load' | 's_time' | 'rate' | 'idle';

/** How a proxy listens for a mode: plain HTTP, or TLS (the client decides whether it resumes sessions). */
export type Listen = 'http' | 'tls';

export interface Mode {
  readonly name: string;
  readonly summary: string;
  readonly driver: Driver;
  readonly listen: Listen;
  /** Response body bytes the backends send. */
  readonly body: number;
  /** Client connections (idle clients for `memory`). */
  readonly connections: number;
  /** A new connection per request (`Connection: close`, or one handshake per request over TLS). */
  readonly newConnection: boolean;
  /** Request body bytes (a POST), 0 for a GET. */
  readonly upload: number;
  /** Every request offers gzip and every target compresses (the backends answer JSON-like text). */
  readonly gzip: boolean;
}

const KIB = 1024;
const base = { driver: 'wrk', listen: 'http', body: 6, connections: 50, newConnection: false, upload: 0, gzip: false } as const;

/** Every mode, in the order a full run measures them. */
export const MODES: readonly Mode[] = [
  { ...base, name: '6b', summary: 'HTTP/1.1, 6 B bodies, 50 kept-alive connections' },
  { ...base, name: '1k', summary: 'HTTP/1.1, 1 KiB bodies, 50 kept-alive connections', body: KIB },
  { ...base, name: '64k', summary: 'HTTP/1.1, 64 KiB bodies, 50 kept-alive connections', body: 64 * KIB },
  { ...base, name: 'gzip', summary: 'HTTP/1.1, 64 KiB of JSON-like text compressed with gzip at level 5 by every target, 50 kept-alive connections', body: 64 * KIB, gzip: true },
  { ...base, name: 'c1000', summary: 'HTTP/1.1, 6 B bodies, 1,000 kept-alive connections', connections: 1000 },
  { ...base, name: 'close', summary: 'HTTP/1.1, 6 B, a new connection per request (Connection: close), 50 connections', newConnection: true },
  { ...base, name: 'c1000-close', summary: 'HTTP/1.1, 6 B, a new connection per request, 1,000 connections', connections: 1000, newConnection: true },
  { ...base, name: 'tls', summary: 'HTTPS (RSA-2048), 6 B, 50 kept-alive connections', listen: 'tls' },
  { ...base, name: 'tls-new', summary: 'HTTPS, 6 B, a TLS handshake per request, the client resumes its session (openssl s_time -reuse)', driver: 's_time', listen: 'tls', connections: 4, newConnection: true },
  { ...base, name: 'tls-full', summary: 'HTTPS, 6 B, a full TLS handshake per request, no resumption (openssl s_time -new)', driver: 's_time', listen: 'tls', connections: 4, newConnection: true },
  { ...base, name: 'h2', summary: 'HTTP/2 over TLS to clients (h2load, 10 connections × 10 streams), 6 B', driver: 'h2load', listen: 'tls', connections: 10 },
  { ...base, name: 'upload', summary: 'HTTP/1.1 POST of 1 MiB, 6 B answers, 50 kept-alive connections', upload: 1024 * KIB },
  { ...base, name: 'latency', summary: 'fixed rate at 50% of nginx\'s measured maximum: p50, p99, p99.9 from each request\'s intended send time', driver: 'rate' },
  { ...base, name: 'memory', summary: 'resident memory with 10,000 idle kept-alive clients (each made one request)', driver: 'idle', connections: 10_000 },
];

/** The modes a run measures when `--mode` is not given: short, and the ones the targets are judged on first. */
export const DEFAULT_MODES = ['6b', '64k', 'close', 'tls', 'tls-full', 'latency'] as const;

/** A `--mode` value that names no mode. */
export class UnknownModeError extends Error {
  readonly code = 'ERR_BENCH_UNKNOWN_MODE';
  constructor(readonly mode: string) {
    super(`--mode: unknown mode ${JSON.stringify(mode)} (one of ${MODES.map((m) => m.name).join(', ')}, or all)`);
  }
}

/**
 * The modes named by `--mode` values (repeatable, each comma-separated; `all` for every one), in
 * the table's order, each once; the defaults when none is given.
 */
export function parseModes(values: readonly string[]): Mode[] {
  const names = values.flatMap((v) => v.split(',')).map((n) => n.trim().toLowerCase()).filter((n) => n !== '');
  if (names.length === 0) return MODES.filter((m) => (DEFAULT_MODES as readonly string[]).includes(m.name));
  const wanted = new Set<string>();
  for (const name of names) {
    if (name === 'all') for (const m of MODES) wanted.add(m.name);
    else if (MODES.some((m) => m.name === name)) wanted.add(name);
    else throw new UnknownModeError(name);
  }
  return MODES.filter((m) => wanted.has(m.name));
}

/** `--help`: the options and one line per mode. */
export function helpText(): string {
  const width = Math.max(...MODES.map((m) => m.name.length)) + 2;
  return [
    'npm run bench:peers -- [--mode NAME[,NAME…]|all] [--rounds N] [--duration S] [--warmup S] [--node PATH] [--idle N] [--only REGEX] [--json]',
    '',
    'The balancer beside nginx, HAProxy and Caddy (each one that is installed), mode by mode, in the same run:',
    'CPU-µs per request of each target (its whole process tree, pinned alone on the last CPU) and the ratio to nginx\'s.',
    '',
    'Modes (default: ' + DEFAULT_MODES.join(',') + '):',
    ...MODES.map((m) => `  ${m.name.padEnd(width)}${m.summary}`),
    '',
    'Options:',
    '  --mode      modes to run (repeatable or comma-separated; all: every mode)',
    '  --rounds    rounds per mode; each figure is the median (1)',
    '  --duration  seconds measured per target and round (3)',
    '  --warmup    seconds of load before each measurement (1)',
    '  --node      the Node.js binary the balancer runs on (default: this one), e.g. to compare Node 24 and 26',
    '  --idle      idle clients in the memory mode (10000)',
    '  --only      only the targets whose name matches this regular expression',
    '  --json      one JSON document instead of the tables',
  ].join('\n');
}
