export { AdminServer, describe, MAX_ADMIN_BODY } from './admin-server.js';
export type { AdminOptions, AdminTarget, ReloadOutcome } from './admin-server.js';
export { EventLog } from './events.js';
export { AdminToken } from './token.js';
export type { LbEvent } from './events.js';
export { bucketBound, percentile, Sampler, SAMPLES_KEPT } from './sampler.js';
export type { BackendSample, Sample, SamplerHooks } from './sampler.js';
