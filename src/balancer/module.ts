import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Strategy, StrategyOptions } from './strategy.js';

/** Why a strategy module was refused; the CLI reports it as a configuration error (exit 2). */
export class StrategyModuleError extends Error {
  override readonly name = 'StrategyModuleError';
}

/** True when `value` has the shape of a Strategy: a string name and a pick function. */
export function isStrategy(value: unknown): value is Strategy {
  const s = value as Partial<Strategy> | null;
  return typeof s === 'object' && s !== null && typeof s.name === 'string' && s.name !== '' && typeof s.pick === 'function';
}

/**
 * Loads an ES module whose default export is a strategy factory `(options) => Strategy`
 * (a class works too) and makes the strategy. Relative paths are resolved from `cwd`.
 */
export async function loadStrategyModule(path: string, options: StrategyOptions, cwd = process.cwd()): Promise<Strategy> {
  let mod: { default?: unknown };
  try {
    mod = await import(pathToFileURL(resolve(cwd, path)).href) as { default?: unknown };
  } catch (err) {
    throw new StrategyModuleError(`cannot load it: ${(err as Error).message.split('\n')[0]}`);
  }
  const factory = mod.default;
  if (typeof factory !== 'function') {
    throw new StrategyModuleError('expected a module whose default export is a strategy factory: (options) => ({ name, pick(healthy, request) })');
  }
  let strategy: unknown;
  try {
    strategy = isClass(factory) ? new (factory as new (o: StrategyOptions) => unknown)(options) : (factory as (o: StrategyOptions) => unknown)(options);
  } catch (err) {
    throw new StrategyModuleError(`its factory threw: ${(err as Error).message}`);
  }
  if (!isStrategy(strategy)) {
    throw new StrategyModuleError('its factory must return an object with a non-empty string "name" and a "pick(healthy, request)" function');
  }
  return strategy;
}

function isClass(fn: unknown): boolean {
  return typeof fn === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(fn));
}
