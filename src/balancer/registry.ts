import { ConsistentHash } from './strategies/consistent-hash.js';
import { LeastConnections } from './strategies/least-connections.js';
import { PeakEwma } from './strategies/peak-ewma.js';
import { PowerOfTwoChoices } from './strategies/power-of-two-choices.js';
import { RandomChoice } from './strategies/random.js';
import { RoundRobin } from './strategies/round-robin.js';
import { WeightedRoundRobin } from './strategies/weighted-round-robin.js';
import type { Strategy, StrategyFactory, StrategyOptions } from './strategy.js';

/** The built-in strategies, in registration order. */
const BUILT_IN = {
  'round-robin': (options) => new RoundRobin(options),
  'weighted-round-robin': (options) => new WeightedRoundRobin(options),
  'least-connections': (options) => new LeastConnections(options),
  'random': (options) => new RandomChoice(options),
  'power-of-two-choices': (options) => new PowerOfTwoChoices(options),
  'peak-ewma': (options) => new PeakEwma(options),
  'consistent-hash': (options) => new ConsistentHash({ ...options, fallbackStrategy: createStrategy(options.fallback ?? 'round-robin', options) }),
} satisfies Record<string, StrategyFactory>;

/** The name of a built-in strategy: what `STRATEGY` and the library's `strategy` accept (besides names given to registerStrategy). */
export type StrategyName = keyof typeof BUILT_IN;

const factories = new Map<string, StrategyFactory>(Object.entries(BUILT_IN));

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
