export { HealthMonitor, transition } from './monitor.js';
export type { HealthOptions } from './monitor.js';
export { httpCheck } from './check.js';
export type { CheckFn, CheckResult } from './check.js';
