import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import { createRequire } from 'node:module';
import type { LogFormat, LogLevel } from '../config/index.js';
import type { LineSink } from '../middleware/index.js';
import { LogDestination } from './log-destination.js';
import { prettyMessage } from './pretty-format.js';

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** File descriptor or path; standard output by default. */
  readonly destination?: number | string;
  /** Extra fields on every line (a worker's index, say). */
  readonly bindings?: Record<string, unknown>;
}

/** A logger, and where its access lines may be written directly (JSON format only). */
export interface Logging {
  readonly log: Logger;
  readonly lines: LineSink | undefined;
}

/**
 * JSON lines by default, written in batches (see LogDestination; a line is out within
 * 100 ms), with the sink the access log writes its lines into directly; `pretty` for a person
 * at a terminal, one line per record (no sink: access lines go through pino). Call `flushLogger` before exiting.
 */
export function createLogging(options: LoggerOptions): Logging {
  const dest = options.destination ?? 1;
  const base = { pid: process.pid, hostname: hostname(), ...options.bindings };
  if (options.format === 'pretty') {
    // Loaded only when asked for: it is a fair share of an idle balancer's memory.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return {
      log: pino({ level: options.level, base }, pretty({
        destination: dest,
        colorize: dest === 1 && process.stdout.isTTY === true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname',
        // One line per record (see pretty-format.ts): an access line per request, a summary of
        // the configuration at start, `key=value` fields, instead of indented objects.
        messageFormat: (log, messageKey) => prettyMessage(log, messageKey),
        hideObject: true,
        sync: true,
      })),
      lines: undefined,
    };
  }
  // Lines are batched: one write per 8 KiB instead of one per request (the access log's main
  // cost); a line waits at most 100 ms on a quiet balancer. pino writes the base fields after
  // the time as JSON.stringify does; so do the destination's own lines and the access lines.
  const bindings = `,${JSON.stringify(base).slice(1, -1)}`;
  const stream = new LogDestination(dest, { batchBytes: 8 * 1024, flushInterval: 100, fields: bindings.slice(1) });
  return { log: pino({ level: options.level, base }, stream), lines: { destination: stream, bindings } };
}

/** A logger as `createLogging` makes it, for those who do not write access lines. */
export function createLogger(options: LoggerOptions): Logger {
  return createLogging(options).log;
}

/** Writes out whatever the logger still buffers; safe to call from an exit path. */
export function flushLogger(log: Logger): void {
  try {
    log.flush();
  } catch {
    // A stream that cannot flush synchronously (pretty) has nothing pending.
  }
}
