import { ConfigError, show } from './errors.js';
import { SETTINGS, type Config, type Setting } from './settings.js';

/** The settings a pool may set for itself; any other falls back to the global value only. */
export const POOL_SETTING_PREFIXES = ['backends', 'proto', 'proxyProtocol', 'dns', 'strategy', 'shadowStrategies', 'hash', 'sticky', 'proxy.timeout', 'proxy.requestTimeout',
  'retry', 'outlier', 'backend', 'queue', 'health', 'backendTls'] as const;

/** What a pool configures for itself: its backends and everything that picks, checks and retries them. */
export type PoolSettings = Pick<Config, 'backends' | 'proto' | 'proxyProtocol' | 'dns' | 'strategy' | 'shadowStrategies' | 'hash' | 'sticky' | 'proxy' | 'retry' | 'outlier' | 'backend' | 'queue' | 'health' | 'backendTls'>;

/** A named pool: its own settings, each defaulting to the global one. */
export interface PoolConfig extends PoolSettings {
  readonly name: string;
}

/** The pool that `BACKENDS` and the top-level settings define. */
export const DEFAULT_POOL = 'default';

const POOL_NAME = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;

/** Whether a setting (by its dotted key) may be set per pool. */
export function isPoolSetting(key: string): boolean {
  return POOL_SETTING_PREFIXES.some((p) => key === p || key.startsWith(`${p}.`));
}

/** The settings a pool may set, as a config file names them. */
export const POOL_SETTINGS: readonly Setting[] = SETTINGS.filter((s) => isPoolSetting(s.key));

/** The pool's part of a configuration: the global settings it may override. */
export function poolSettings(config: PoolSettings, name: string): PoolConfig {
  const { backends, proto, proxyProtocol, dns, strategy, shadowStrategies, hash, sticky, proxy, retry, outlier, backend, queue, health, backendTls } = config;
  return { name, backends, proto, proxyProtocol, dns, strategy, shadowStrategies, hash, sticky, proxy, retry, outlier, backend, queue, health, backendTls };
}

/**
 * Checks the `pools:` section's shape and names, and returns each pool's object of settings
 * (validated by the loader like the top-level ones). Throws ConfigError.
 */
export function poolEntries(data: unknown, where: string): [string, Record<string, unknown>][] {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`invalid pools${where} ${show(data)}: expected an object of pools by name, such as { api: { backends: [http://10.0.0.1:8080] } }`);
  }
  const entries: [string, Record<string, unknown>][] = [];
  for (const [name, value] of Object.entries(data as Record<string, unknown>)) {
    if (name === DEFAULT_POOL) {
      throw new ConfigError(`invalid pool name "default"${where}: the default pool is the one BACKENDS (top-level backends:) defines; expected another name`);
    }
    if (!POOL_NAME.test(name)) {
      throw new ConfigError(`invalid pool name ${show(name)}${where}: expected lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit (at most 64)`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new ConfigError(`invalid pool ${show(name)}${where} ${show(value)}: expected an object of settings with at least backends: [URL, ...]`);
    }
    if (!('backends' in value)) {
      throw new ConfigError(`missing backends in pool ${show(name)}${where}: expected a non-empty list of backend URLs`);
    }
    entries.push([name, value as Record<string, unknown>]);
  }
  return entries;
}
