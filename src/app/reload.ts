import type { Logger } from 'pino';
import type { EventLog, ReloadOutcome } from '../admin/index.js';
import { SETTINGS, type Config, type Setting } from '../config/index.js';

/** Where a reload's outcome goes: the counters behind the metrics, the log, the event timeline. */
export interface ReloadRecord {
  readonly log: Logger;
  readonly events: EventLog;
  readonly reloads: { succeeded: number; failed: number };
}

/** Counts, logs and records a reload that applied; returns its outcome. */
export function reloaded(record: ReloadRecord, changes: string[], needRestart: string[]): ReloadOutcome {
  record.reloads.succeeded++;
  record.log.info({ changes }, 'configuration reloaded');
  if (needRestart.length > 0) record.log.warn({ settings: needRestart }, `changed settings that take effect only after a restart: ${needRestart.join(', ')}`);
  record.events.add({ kind: 'reload', message: changes.length === 0 ? 'reloaded, nothing changed' : `reloaded: ${changes.join(', ')}` });
  return { ok: true, changes, needRestart };
}

/** Counts, logs and records a reload refused for an invalid configuration; nothing changed. */
export function reloadFailed(record: ReloadRecord, err: Error): ReloadOutcome {
  record.reloads.failed++;
  record.log.error({ err: err.message }, 'configuration reload failed: keeping the current one');
  record.events.add({ kind: 'reload', message: `reload failed: ${err.message}` });
  return { ok: false, error: err.message };
}

/** Settings a reload applies: the pool (and its DNS lookups), strategy, PROXY_TIMEOUT, retries, queue, health checks, compression, log level. */
const LIVE = new Set(['backends', 'dns.refresh', 'dns.servers', 'strategy', 'hash.key', 'hash.loadFactor', 'hash.fallback', 'proxy.timeout', 'retry.retries', 'retry.onStatus', 'retry.budget',
  'queue.size', 'queue.timeout', 'health.type', 'health.service', 'health.path', 'health.interval', 'health.downInterval', 'health.timeout', 'health.rise', 'health.fall', 'health.warnWeight', 'log.level',
  'rateLimit.rate', 'rateLimit.burst', 'rateLimit.key', 'rateLimit.mode', 'rateLimit.tableSize',
  'compression.encodings', 'compression.types', 'compression.minSize', 'compression.levels',
  'hooks', 'hookTimeout']);

/** The settings that differ between two configurations and need a restart. */
export function restartOnly(before: Config, next: Config): Setting[] {
  return SETTINGS.filter((s) => !LIVE.has(s.key) && JSON.stringify(valueAt(before, s.key)) !== JSON.stringify(valueAt(next, s.key)));
}

/** `next` with the values of `keys` taken from `before`. */
export function keeping(next: Config, before: Config, keys: readonly string[]): Config {
  if (keys.length === 0) return next;
  const config = structuredClone(next) as unknown as Record<string, Record<string, unknown>>;
  for (const key of keys) {
    const [section, field] = key.split('.') as [string, string | undefined];
    if (field === undefined) config[section] = valueAt(before, key) as never;
    else config[section]![field] = valueAt(before, key);
  }
  return config as unknown as Config;
}

export function strategyChanged(before: Pick<Config, 'strategy' | 'hash'>, next: Pick<Config, 'strategy' | 'hash'>): boolean {
  return before.strategy !== next.strategy || JSON.stringify(before.hash) !== JSON.stringify(next.hash);
}

function valueAt(config: Config, key: string): unknown {
  let node: unknown = config;
  for (const part of key.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  return node;
}
