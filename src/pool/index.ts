export { Backend } from './backend.js';
export { Pool } from './pool.js';
export type { Snapshot, HealthChange, PoolEvents } from './pool.js';
