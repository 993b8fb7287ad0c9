export { Backend, latencyClock, LATENCY_DECAY_MS } from './backend.js';
export { Pool } from './pool.js';
export type { Snapshot, HealthChange, PoolEvents } from './pool.js';
