export { AuthShared } from './auth-shared.js';
export { authorize } from './authorize.js';
export { makePolicy } from './make-policy.js';
export type { AuthPolicy } from './policy.js';
export type { BasicAuthSpec, ForwardAuthSpec, JwtSpec } from './auth-spec.js';
