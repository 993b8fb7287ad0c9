import type { FilterSpec } from '../route-spec.js';
import type { AuthShared } from './auth-shared.js';
import { BasicAuth } from './basic-auth.js';
import { ForwardAuth } from './forward-auth.js';
import { JwtAuth } from './jwt-auth.js';
import type { AuthPolicy } from './policy.js';

/** The authentication filter of a route's filters, compiled; undefined when it has none. */
export function makePolicy(filters: readonly FilterSpec[], shared: AuthShared): AuthPolicy | undefined {
  for (const f of filters) {
    if (f.type === 'BasicAuth') return new BasicAuth(f.basicAuth);
    if (f.type === 'ForwardAuth') return new ForwardAuth(f.forwardAuth, shared);
    if (f.type === 'JWT') return new JwtAuth(f.jwt);
  }
  return undefined;
}
