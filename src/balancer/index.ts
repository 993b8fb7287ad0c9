export { Director } from './director.js';
export { createStrategy, registerStrategy, strategyNames } from './registry.js';
export { RoundRobin } from './strategies/round-robin.js';
export type { PickRequest, Strategy, StrategyFactory, StrategyOptions } from './strategy.js';
