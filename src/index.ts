/**
 * load-balancer as a library:
 *
 * ```ts
 * import { createLoadBalancer } from 'l7-balancer';
 * const lb = createLoadBalancer({ port: 8080, backends: ['http://10.0.0.1:3000', 'http://10.0.0.2:3000'] });
 * const { port } = await lb.start(); // the traffic listener's address: with port 0, the one picked
 * // ... later
 * await lb.stop();
 * ```
 */
import { LoadBalancer, type LoadBalancerOptions } from './app/load-balancer.js';
import { strategyNames, type Strategy, type StrategyName } from './balancer/index.js';
import { isStrategy } from './balancer/module.js';
import { ConfigError, objectLayer, resolveConfig, type Config } from './config/index.js';
import type { BackendInput, BackendSpec } from './pool/index.js';
import type { PoolSettings } from './config/pools.js';
import type { RouteSpec } from './routing/index.js';
import type { Hooks } from './hooks/index.js';

/** A setting as a user may give it: numbers (durations, sizes, counts) also as text such as `'10s'` or `'16KiB'`, any string where a value is one of a list (checked at run time). */
type InputValue<T> = T extends number ? number | string : T extends boolean ? boolean | string : T extends string ? string : T;

/** The configuration's shape with every setting optional, section by section. */
type Sections<T> = { [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? Sections<T[K]> : InputValue<T[K]> };

/** Every setting but the backends and the strategy, with the config file's names. */
export type LoadBalancerSettings = Omit<Sections<Config>, 'backends' | 'strategy' | 'strategyModule' | 'pools' | 'routes' | 'hooks' | 'tls'> & {
  /** TLS on PORT: `cert` and `key` one file each or lists (pairs in order), or `certificates: [{ cert, key }]`; the first pair is the default. */
  tls?: Omit<Sections<Config['tls']>, 'cert' | 'key'> & {
    cert?: string | readonly string[];
    key?: string | readonly string[];
    certificates?: readonly { readonly cert: string; readonly key: string }[];
  };
  /** Hooks for every request, in order: objects of phases, or paths of hook modules (HOOKS_MODULE); see docs/hooks.md. */
  hooks?: readonly (string | Hooks)[];
  backends?: string | readonly BackendInput[];
  /** Pools by name, each with its own backends and any of the per-pool settings (the global ones otherwise). */
  pools?: Readonly<Record<string, PoolInput>>;
  /** Routes in Gateway API HTTPRoute's shape, tried by HTTPRoute's precedence (see docs/routing.md). */
  routes?: readonly RouteInput[];
};

/** A pool's settings: its backends, and any per-pool setting (strategy, health, retry, ...) with the config file's names. */
export type PoolInput = Omit<Sections<PoolSettings>, 'backends' | 'strategy'> & {
  backends: string | readonly BackendInput[];
  strategy?: StrategyName;
};

/** Optional wherever a config file may leave a field out (defaults are filled in by validation). */
type Loose<T> = T extends readonly (infer U)[] ? readonly Loose<U>[] : T extends object ? { readonly [K in keyof T]?: Loose<T[K]> } : T;

/** A route as given: RouteSpec's shape, every field but the name optional. */
export type RouteInput = Loose<RouteSpec> & { readonly name: string };

/**
 * The strategy: a built-in strategy's name (a typo such as `'nope'` does not type-check), or a
 * strategy object. Other names only with `strategyModule`, a module of your own whose default
 * export makes the strategy (see STRATEGY_MODULE), which is then used instead of the name.
 */
export type StrategyInput =
  | { strategy?: StrategyName | Strategy; strategyModule?: undefined }
  | { strategyModule: string; strategy?: string | Strategy };

/**
 * Settings with the config file's names, derived from the configuration (and so from the one
 * settings table): every key `lb --help` lists under its config-file name. Durations are Go-style
 * strings (`'10s'`) or milliseconds; anything left out takes its default.
 */
export type LoadBalancerInput = LoadBalancerSettings & StrategyInput;

/**
 * Validates `input` (throwing ConfigError with a message naming the setting) and returns a
 * load balancer ready to `start()`.
 */
export function createLoadBalancer(input: LoadBalancerInput = {}, options: LoadBalancerOptions = {}): LoadBalancer {
  const { strategy: given, hooks: allHooks, ...rest } = input;
  // Module paths are the HOOKS_MODULE setting; objects go to the balancer as they are.
  const modules = allHooks?.filter((h): h is string => typeof h === 'string');
  const objects = allHooks?.filter((h): h is Hooks => typeof h !== 'string') ?? [];
  const settings = modules === undefined ? rest : { ...rest, hooks: modules };
  if (objects.length > 0) options = { ...options, hooks: [...(options.hooks ?? []), ...objects] };
  let strategy = options.strategy;
  if (typeof given === 'object') {
    if (!isStrategy(given)) throw new ConfigError('invalid strategy object: expected { name: string, pick(healthy, request) }');
    strategy = given;
  }
  // With a module, the module's strategy is used and a name of its own is no registered one.
  const named = typeof given === 'string' && (input.strategyModule === undefined || strategyNames().includes(given));
  const config = resolveConfig([objectLayer(named ? { ...settings, strategy: given } : settings, undefined)], strategyNames());
  return new LoadBalancer(strategy !== undefined ? { ...config, strategy: strategy.name } : config, { ...options, strategy });
}

export { LoadBalancer };
export type { Service } from './app/service.js';
export type { PoolConfig, PoolSettings } from './config/pools.js';
export { RouteTable } from './routing/index.js';
export type { RouteSpec, MatchSpec, FilterSpec, BackendRef, Rule, MirrorCounts } from './routing/index.js';
export type { LoadBalancerOptions, StopResult } from './app/load-balancer.js';
export { createLogger, createLogging } from './app/logger.js';
export type { Logging, LoggerOptions } from './app/logger.js';
export type { LineSink } from './middleware/index.js';
export { ConfigError };
export { parseDuration, SETTINGS } from './config/index.js';
export type { Config, BackendSpec, BackendInput };
export { Backend, Pool, InvalidBackend, available } from './pool/index.js';
export type { AdminState, BackendState, ChangeKind, HealthChange, PoolChange, Snapshot } from './pool/index.js';
export type { ConnectionStats } from './proxy/index.js';
export { ClusterPrimary, isWorker, runWorker } from './app/cluster.js';
export {
  Director, createStrategy, registerStrategy, strategyNames, loadStrategyModule,
  RoundRobin, WeightedRoundRobin, LeastConnections, RandomChoice, PowerOfTwoChoices, PeakEwma, ConsistentHash, Sticky,
} from './balancer/index.js';
export type { Exclusion, PickRequest, Strategy, StrategyFactory, StrategyName, StrategyOptions } from './balancer/index.js';
export { ProxyError } from './proxy/index.js';
export type { ProxyErrorCode } from './proxy/index.js';
export type { Middleware } from './middleware/index.js';
export { HOOK_CONTEXT_KEYS, HookModuleError, loadHookModule, PHASES } from './hooks/index.js';
export type { HookBackend, HookContext, HookHeaders, HookLogLine, HookRequestHead, HookResponseHead, Hooks, MaybePromise, Phase } from './hooks/index.js';
export { RequestContext } from './context/index.js';
