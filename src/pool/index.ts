export { Backend, latencyClock, LATENCY_DECAY_MS, tlsConnectOptions } from './backend.js';
export type { BackendTls, Upstream, UpstreamStats } from './backend.js';
export { Pool } from './pool.js';
export type { Snapshot, HealthChange, PoolEvents } from './pool.js';
