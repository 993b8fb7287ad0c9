export { HealthMonitor } from './monitor.js';
export { OutlierDetector } from './outlier.js';
export type { OutlierOptions } from './outlier.js';
export { SlowStart } from './slow-start.js';
