export { Backend, latencyClock, tlsConnectOptions } from './backend.js';
export type { AdminState, BackendState, BackendTls, HealthState, Upstream, UpstreamStats } from './backend.js';
export { InvalidBackend, parseBackendEntry, parseBackendText, checkUnique, defaultId } from './backend-spec.js';
export type { BackendInput, BackendSpec } from './backend-spec.js';
export { Pool, available, hasRoom } from './pool.js';
export type { ChangeKind, HealthChange, PoolChange, Snapshot } from './pool.js';
