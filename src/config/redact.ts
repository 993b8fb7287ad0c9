import { SETTINGS, type Config, type Setting } from './settings.js';
import type { PoolConfig } from './pools.js';

/** What a secret is shown as, everywhere. */
export const REDACTED = '[redacted]';

/** `scheme://user:password@`: the password part of a URL's userinfo. */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^/@\s:|,]*):[^/@\s|,]*@/gi;

/**
 * A value as it may be shown in an error message, a log line, `--check` or the admin API: the
 * value of a secret setting (marked `secret` in the settings table) replaced by `[redacted]`,
 * and the password of any URL in it (`http://user:password@host`) too. Lists and objects are
 * redacted item by item. The one place that decides what is secret.
 */
export function redact(value: unknown, setting?: Setting): unknown {
  if (value === undefined) return undefined;
  if (setting?.secret === true) return REDACTED;
  if (typeof value === 'string') return value.replace(URL_PASSWORD, `$1:${REDACTED}@`);
  if (Array.isArray(value)) return value.map((v) => redact(v));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v)]));
  }
  return value;
}

/** The configuration with every secret setting redacted (a copy; `config` is left alone). */
export function redactConfig(config: Config | PoolConfig): Record<string, unknown> {
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  for (const setting of SETTINGS) {
    if (setting.secret !== true) continue;
    const parts = setting.key.split('.');
    let node = copy;
    // A pool's settings hold only some sections.
    for (const part of parts.slice(0, -1)) node = (node?.[part] as Record<string, unknown> | undefined)!;
    const last = parts[parts.length - 1]!;
    if (node?.[last] !== undefined) node[last] = REDACTED;
  }
  return copy;
}
