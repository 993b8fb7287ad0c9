/**
 * load-balancer as a library:
 *
 * ```ts
 * import { createLoadBalancer } from 'load-balancer';
 * const lb = createLoadBalancer({ port: 8080, backends: ['http://10.0.0.1:3000', 'http://10.0.0.2:3000'] });
 * await lb.start();
 * // ... later
 * await lb.stop();
 * ```
 */
import { LoadBalancer, type LoadBalancerOptions } from './app/load-balancer.js';
import { strategyNames, type Strategy } from './balancer/index.js';
import { isStrategy } from './balancer/module.js';
import { ConfigError, objectLayer, resolveConfig, type BackendSpec, type Config } from './config/index.js';

type Duration = string | number;

/**
 * Settings with the config file's names. Durations are Go-style strings (`'10s'`) or
 * milliseconds; anything left out takes its default.
 */
export interface LoadBalancerInput {
  port?: number;
  host?: string;
  backends?: string | readonly (string | { url: string; weight?: number })[];
  /** A registered strategy's name, or a strategy object. */
  strategy?: string | Strategy;
  strategyModule?: string;
  hash?: { key?: string; loadFactor?: number; fallback?: string };
  sticky?: { cookie?: string; secret?: string };
  proxy?: { timeout?: Duration };
  health?: { path?: string; interval?: Duration; timeout?: Duration; rise?: number; fall?: number };
  http?: { maxIdleConns?: number; maxIdleConnsPerHost?: number; idleConnTimeout?: Duration };
  shutdown?: { timeout?: Duration };
  limits?: {
    maxHeaderSize?: number | string; maxHeaders?: number; headerTimeout?: Duration; idleTimeout?: Duration;
    bodyTimeout?: Duration; sendTimeout?: Duration; maxBodySize?: number | string; maxConnections?: number;
  };
  log?: { level?: string; format?: string };
}

/**
 * Validates `input` (throwing ConfigError with a message naming the setting) and returns a
 * load balancer ready to `start()`.
 */
export function createLoadBalancer(input: LoadBalancerInput = {}, options: LoadBalancerOptions = {}): LoadBalancer {
  const { strategy: given, ...settings } = input;
  let strategy = options.strategy;
  if (typeof given === 'object') {
    if (!isStrategy(given)) throw new ConfigError('invalid strategy object: expected { name: string, pick(healthy, request) }');
    strategy = given;
  }
  const config = resolveConfig([objectLayer(typeof given === 'string' ? input : settings, undefined)], strategyNames());
  return new LoadBalancer(strategy !== undefined ? { ...config, strategy: strategy.name } : config, { ...options, strategy });
}

export { LoadBalancer };
export type { LoadBalancerOptions, StopResult } from './app/load-balancer.js';
export { createLogger } from './app/logger.js';
export { ConfigError };
export { parseDuration, SETTINGS } from './config/index.js';
export type { Config, BackendSpec };
export { Backend, Pool } from './pool/index.js';
export type { Snapshot, HealthChange } from './pool/index.js';
export {
  Director, createStrategy, registerStrategy, strategyNames, loadStrategyModule,
  RoundRobin, WeightedRoundRobin, LeastConnections, RandomChoice, PowerOfTwoChoices, PeakEwma, ConsistentHash, Sticky,
} from './balancer/index.js';
export type { PickRequest, Strategy, StrategyFactory, StrategyOptions } from './balancer/index.js';
export { ProxyError } from './proxy/index.js';
export type { ProxyErrorCode } from './proxy/index.js';
export type { Middleware } from './middleware/index.js';
export { RequestContext } from './context/index.js';
