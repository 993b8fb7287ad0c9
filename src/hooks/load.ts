import { basename, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { PHASES, type Hooks } from './types.js';

/** Why a hook module was refused; the CLI reports it as a configuration error (exit 2). */
export class HookModuleError extends Error {
  override readonly name = 'HookModuleError';
}

/** What a hook module's factory is given. */
export interface HookModuleOptions {
  readonly log: Logger;
}

/** A hook with the name logs and metrics know it by. */
export interface NamedHooks {
  readonly name: string;
  readonly hooks: Hooks;
}

/** True when `value` has at least one phase, each a function. */
export function isHooks(value: unknown): value is Hooks {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  let phases = 0;
  for (const phase of PHASES) {
    if (v[phase] === undefined) continue;
    if (typeof v[phase] !== 'function') return false;
    phases++;
  }
  return phases > 0 && (v.name === undefined || typeof v.name === 'string');
}

/** A hook given as an object (the library's `hooks` and `use`), named. */
export function named(hooks: Hooks, fallback: string): NamedHooks {
  if (!isHooks(hooks)) throw new HookModuleError(`${fallback}: expected an object with one or more of ${PHASES.join(', ')} (functions)`);
  return { name: hooks.name ?? fallback, hooks };
}

/**
 * Imports the ES module at `path` (relative to `cwd`) and returns its hooks: its default export
 * (an object of phases, or a factory `(options) => phases`, sync or async), else its named
 * phase exports. `generation` makes a new module instance (a cache-busting query) for each
 * reload; requests already running keep the instance they started with.
 */
export async function loadHookModule(path: string, options: HookModuleOptions, generation: number, cwd = process.cwd()): Promise<NamedHooks> {
  const url = pathToFileURL(resolve(cwd, path));
  if (generation > 0) url.search = `?generation=${generation}`;
  let mod: Record<string, unknown>;
  try {
    mod = await import(url.href) as Record<string, unknown>;
  } catch (err) {
    throw new HookModuleError(`hook module ${JSON.stringify(path)}: cannot load it: ${(err as Error).message.split('\n')[0]}`);
  }
  let hooks: unknown = mod.default ?? mod;
  if (typeof hooks === 'function') {
    try {
      hooks = await (hooks as (o: HookModuleOptions) => unknown)(options);
    } catch (err) {
      throw new HookModuleError(`hook module ${JSON.stringify(path)}: its factory threw: ${(err as Error).message}`);
    }
  }
  if (!isHooks(hooks)) {
    throw new HookModuleError(`hook module ${JSON.stringify(path)}: expected a default export (an object, or a factory returning one) or named exports with one or more of ${PHASES.join(', ')}`);
  }
  return { name: hooks.name ?? basename(path, extname(path)), hooks };
}
