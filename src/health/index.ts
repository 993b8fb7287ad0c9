export { HealthMonitor } from './monitor.js';
