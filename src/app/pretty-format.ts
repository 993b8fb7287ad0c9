/**
 * The `pretty` log format's lines, for a person at a terminal: one line per log line, never the
 * indented object dump pino-pretty makes by default (about 100 lines for the start-up
 * configuration, 9 per request). JSON mode is untouched: machines read that one.
 *
 * - a request: a compact access line, `GET /echo 200 1.25ms 127.0.0.1:8081 5f2c…` (method, path,
 *   status, duration, backend, request id; then `tries=`, `error=` and the like when set);
 * - `starting`: a summary of the configuration (backends, strategy, health checks), the
 *   listeners following on their own `listening` lines;
 * - anything else: the message, then its fields as `key=value`.
 */

/** pino's own fields and those every line of the process carries: never repeated per line. */
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'v']);

/** The access line's fields that the compact form places by position. */
const REQUEST_PLACED = new Set(['reqId', 'method', 'path', 'status', 'ms', 'backend', 'bytes', 'client', ...HIDDEN]);

/** What the start-up summary says of the configuration; the rest is in `lb --help`'s defaults. */
interface ConfigSummary {
  readonly backends?: readonly string[];
  readonly strategy?: string;
  readonly engine?: string;
  readonly workers?: number | string;
  readonly health?: { readonly path?: string; readonly interval?: number };
}

/** Formats one log record (pino-pretty's `messageFormat`, with `hideObject` on). */
export function prettyMessage(log: Record<string, unknown>, messageKey = 'msg'): string {
  const msg = typeof log[messageKey] === 'string' ? (log[messageKey] as string) : '';
  if (msg === 'request' && typeof log.method === 'string') return requestLine(log);
  if (msg === 'starting' && typeof log.config === 'object' && log.config !== null) {
    return `starting: ${configSummary(log.config as ConfigSummary)}${rest(log, new Set([...HIDDEN, 'config']))}`;
  }
  if ((msg === 'listening' || msg === 'worker listening') && typeof log.port === 'number') {
    const proto = typeof log.proto === 'string' ? log.proto : 'http';
    const skip = new Set([...HIDDEN, 'address', 'port', 'proto']);
    return `${msg} on ${proto}://${hostPort(String(log.address), log.port)}${rest(log, skip)}`;
  }
  if ((msg === 'backend is up' || msg === 'backend is down') && typeof log.backend === 'string') {
    return `${msg}: ${log.backend}${rest(log, new Set([...HIDDEN, 'backend', 'url', 'healthy']))}`;
  }
  if (msg === 'admin listening' && typeof log.port === 'number') {
    return `admin listening on http://${hostPort(String(log.address), log.port)}${rest(log, new Set([...HIDDEN, 'address', 'port']))}`;
  }
  // An error's stack is worth its lines at error level and above (an unexpected failure).
  const err = log.err as { stack?: unknown } | undefined;
  const stack = typeof log.level === 'number' && log.level >= 50 && typeof err?.stack === 'string' ? `\n${err.stack}` : '';
  return `${msg}${rest(log, HIDDEN)}${stack}`;
}

/** `GET /path 200 1.25ms backend reqId`, then whatever else the line has (tries, error). */
function requestLine(log: Record<string, unknown>): string {
  const backend = typeof log.backend === 'string' ? log.backend : '-';
  return `${String(log.method)} ${String(log.path)} ${String(log.status)} ${String(log.ms)}ms ${backend} ${String(log.reqId)}${rest(log, REQUEST_PLACED)}`;
}

function configSummary(config: ConfigSummary): string {
  const backends = config.backends ?? [];
  const listed = backends.length <= 3 ? `: ${backends.join(', ')}` : `: ${backends.slice(0, 3).join(', ')}, …`;
  const parts = [`${backends.length} backend${backends.length === 1 ? '' : 's'}${backends.length === 0 ? '' : listed}`];
  if (config.strategy !== undefined) parts.push(`strategy ${config.strategy}`);
  const health = config.health;
  if (health !== undefined) parts.push(`health checks GET ${health.path ?? 'each backend\'s URL'} every ${seconds(health.interval)}`);
  if (config.engine !== undefined) parts.push(`engine ${config.engine}`);
  if (config.workers !== undefined && config.workers !== 0) parts.push(`workers ${String(config.workers)}`);
  return parts.join('; ');
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? '?' : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** ` key=value` for every field not shown otherwise; strings as they are unless they need quotes. */
function rest(log: Record<string, unknown>, skip: ReadonlySet<string>): string {
  let out = '';
  for (const [key, value] of Object.entries(log)) {
    if (skip.has(key) || value === undefined) continue;
    out += ` ${key}=${show(key, value)}`;
  }
  return out;
}

function show(key: string, value: unknown): string {
  if (typeof value === 'string') return value === '' || /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (key === 'err' && typeof value === 'object') {
    const err = value as { message?: unknown; code?: unknown; stack?: unknown };
    const code = typeof err.code === 'string' ? ` (${err.code})` : '';
    return JSON.stringify(`${String(err.message)}${code}`);
  }
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
