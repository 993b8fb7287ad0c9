export { Backend, latencyClock, tlsConnectOptions } from './backend.js';
export type { AdminState, BackendState, BackendTls } from './backend.js';
export { transition } from './hysteresis.js';
export type { HealthState } from './hysteresis.js';
export { InvalidBackend, parseBackendEntry, parseBackendText, parseConfiguredEntry, isDnsBackend, checkUnique, defaultId, parseProto, resolveProto, BACKEND_PROTOS } from './backend-spec.js';
export type { BackendEntry, BackendInput, BackendProto, BackendSpec, DnsBackend } from './backend-spec.js';
export { Pool, available, hasRoom } from './pool.js';
export type { ChangeKind, HealthChange, PoolChange, Snapshot } from './pool.js';
export { DnsDiscovery } from './dns-discovery.js';
