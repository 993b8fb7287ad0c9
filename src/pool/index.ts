export { Backend, latencyClock, LATENCY_DECAY_MS, tlsConnectOptions } from './backend.js';
export type { AdminState, BackendState, BackendTls, HealthState, Upstream, UpstreamStats } from './backend.js';
export { InvalidBackend, parseBackendEntry, parseBackendText, parseWeight, checkUnique, defaultId, MAX_WEIGHT } from './backend-spec.js';
export type { BackendInput, BackendSpec } from './backend-spec.js';
export { Pool, available, hasRoom, routable } from './pool.js';
export type { ChangeKind, HealthChange, PoolChange, PoolEvents, Snapshot } from './pool.js';
