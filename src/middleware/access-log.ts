import pino, { type Logger } from 'pino';
import type { RequestContext } from '../context/index.js';
import type { Middleware } from './chain.js';

interface LineWriter {
  write(line: string): unknown;
  /** For lines known to be ASCII (LogDestination has it: it skips UTF-8 encoding). */
  writeAscii?(line: string): unknown;
}

/**
 * One line per request when it ends: id, method, path, status, bytes, duration, backend.
 *
 * For JSON output the line is assembled here, in pino's exact format and on pino's own
 * destination, instead of through `log.info(object)`: that serialises a fresh object per request
 * and was the largest single cost of a proxied request. Every field but the path is known to
 * need no escaping (request ids are validated, methods are tokens, backends come from config).
 */
export function accessLog(log: Logger): Middleware {
  const stream = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as LineWriter | undefined;
  const fast = plainJson.has(log) && stream !== undefined && typeof stream.write === 'function';
  // pino's prefix for this logger: level, then time (added per line), then its bindings.
  const bindings = fast ? chindings(log) : '';
  const backendField = new Map<string, string>();
  const ascii = fast && typeof stream!.writeAscii === 'function';
  // The line's start changes once a millisecond: made then, not per request.
  let lastTime = -1;
  let lastTimeField = '';
  return {
    name: 'access-log',
    onEnd(ctx) {
      if (!log.isLevelEnabled('info')) return;
      if (!fast) {
        log.info(fields(ctx), 'request');
        return;
      }
      const backend = ctx.backend;
      let backendJson = '';
      if (backend !== undefined) {
        backendJson = backendField.get(backend.url) ?? '';
        if (backendJson === '') backendField.set(backend.url, backendJson = `,"backend":${JSON.stringify(backend.url)}`);
      }
      const error = ctx.error === undefined ? '' : `,"error":"${ctx.error.code}"`;
      // Every field but the path is ASCII (ids are validated, methods are tokens, backends and
      // addresses come from URL parsing and the socket); so is a path that needs no escaping.
      const path = ctx.path;
      const plain = !NEEDS_ESCAPE.test(path);
      const now = Date.now();
      if (now !== lastTime) {
        lastTime = now;
        lastTimeField = `{"level":30,"time":${now}${bindings}`;
      }
      const line = `${lastTimeField},"reqId":"${ctx.id}","method":"${ctx.method}","path":${plain ? `"${path}"` : JSON.stringify(path)},"status":${ctx.status},"bytes":${ctx.bytes},"ms":${Math.round(ctx.duration * 1000) / 1000}${backendJson},"client":"${ctx.clientIp}"${error},"msg":"request"}\n`;
      if (plain && ascii) stream!.writeAscii!(line);
      else stream!.write(line);
    },
  };
}

function fields(ctx: RequestContext): object {
  return {
    reqId: ctx.id,
    method: ctx.method,
    path: ctx.path,
    status: ctx.status,
    bytes: ctx.bytes,
    ms: Math.round(ctx.duration * 1000) / 1000,
    backend: ctx.backend?.url,
    client: ctx.clientIp,
    error: ctx.error?.code,
  };
}

/** Characters a JSON string must escape, and any non-ASCII one (such a path takes JSON.stringify and UTF-8). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/;

const plainJson = new WeakSet<Logger>();

/**
 * Declares that `log` writes pino's default JSON (no custom formatters, mixins or keys) to a
 * stream, so the access log may write its lines directly. `createLogger` does this.
 */
export function markPlainJson(log: Logger): Logger {
  plainJson.add(log);
  return log;
}

/** The logger's bindings as pino writes them after the time (`,"pid":1,"hostname":"x"`). */
function chindings(log: Logger): string {
  return (log as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? '';
}
