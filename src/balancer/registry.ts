import { RoundRobin } from './strategies/round-robin.js';
import type { Strategy, StrategyFactory, StrategyOptions } from './strategy.js';

const factories = new Map<string, StrategyFactory>([
  ['round-robin', (options) => new RoundRobin(options)],
]);

/** Names accepted by `STRATEGY`, in registration order. */
export function strategyNames(): string[] {
  return [...factories.keys()];
}

/** Registers a strategy under a name that config can then use. */
export function registerStrategy(name: string, factory: StrategyFactory): void {
  if (factories.has(name)) throw new Error(`strategy "${name}" is already registered`);
  factories.set(name, factory);
}

/** Creates the named strategy. Names are validated with the config, so an unknown one is a bug. */
export function createStrategy(name: string, options: StrategyOptions = {}): Strategy {
  const factory = factories.get(name);
  if (factory === undefined) throw new Error(`unknown strategy "${name}": expected one of ${strategyNames().join(', ')}`);
  return factory(options);
}
