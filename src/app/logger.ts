import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import { createRequire } from 'node:module';
import type { LogFormat, LogLevel } from '../config/index.js';
import { markPlainJson } from '../middleware/index.js';
import { LogDestination } from './log-destination.js';

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** File descriptor or path; standard output by default. */
  readonly destination?: number | string;
  /** Extra fields on every line (a worker's index, say). */
  readonly bindings?: Record<string, unknown>;
}

/**
 * JSON lines by default, written in batches (see LogDestination; a line is out within
 * 100 ms); `pretty` for a person at a terminal. Call `flushLogger`
 * before exiting.
 */
export function createLogger(options: LoggerOptions): Logger {
  const dest = options.destination ?? 1;
  const base = { pid: process.pid, hostname: hostname(), ...options.bindings };
  if (options.format === 'pretty') {
    // Loaded only when asked for: it is a fair share of an idle balancer's memory.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return pino({ level: options.level, base }, pretty({
      destination: dest,
      colorize: dest === 1 && process.stdout.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      sync: true,
    }));
  }
  // Lines are batched: one write per 8 KiB instead of one per request (the access log's main
  // cost); a line waits at most 100 ms on a quiet balancer.
  const fields = JSON.stringify(base).slice(1, -1); // its own lines carry the logger's fields too
  const stream = new LogDestination(dest, { batchBytes: 8 * 1024, flushInterval: 100, fields });
  return markPlainJson(pino({ level: options.level, base }, stream));
}

/** Writes out whatever the logger still buffers; safe to call from an exit path. */
export function flushLogger(log: Logger): void {
  try {
    log.flush();
    const stream = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { flushSync?: () => void } | undefined;
    stream?.flushSync?.();
  } catch {
    // A stream that cannot flush synchronously (pretty) has nothing pending.
  }
}
