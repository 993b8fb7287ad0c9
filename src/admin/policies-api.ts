import type { Config } from '../config/index.js';
import { redact, REDACTED } from '../config/redact.js';
import type { CompressionSettings } from '../proxy/compression/index.js';
import { defaultBurst } from '../rate-limit/rate.js';
import type { RateLimitSpec } from '../rate-limit/spec.js';
import type { FilterSpec, RouteSpec } from '../routing/route-spec.js';

/** The global settings a route's filters override: what applies where a route has no filter of its own. */
export interface PolicyGlobals {
  /** ALLOW_CIDRS and DENY_CIDRS (both empty: no access list). */
  readonly allowCidrs: readonly string[];
  readonly denyCidrs: readonly string[];
  /** RATE_LIMIT_*; undefined when RATE_LIMIT is not set. */
  readonly rateLimit: RateLimitSpec | undefined;
  /** COMPRESSION…; no encodings: off. */
  readonly compression: CompressionSettings;
  /** TRUSTED_PROXIES and PROXY_PROTOCOL: who the client is, before any policy asks. */
  readonly trustedProxies: readonly string[];
  readonly proxyProtocol: string;
}

/** The globals of a configuration. */
export function policyGlobals(config: Config): PolicyGlobals {
  const r = config.rateLimit;
  return {
    allowCidrs: config.edge.allowCidrs, denyCidrs: config.edge.denyCidrs,
    rateLimit: r.rate === undefined ? undefined : { rate: r.rate, burst: r.burst ?? defaultBurst(r.rate), key: r.key, mode: r.mode, tableSize: r.tableSize },
    compression: config.compression, trustedProxies: config.edge.trustedProxies, proxyProtocol: config.edge.proxyProtocol,
  };
}

/** Where a policy in effect comes from: the route's own filter, or the named global setting. */
const FROM_FILTER = 'route filter';

type Of<T extends FilterSpec['type']> = Extract<FilterSpec, { type: T }>;

/**
 * The policies in effect for a route (undefined: requests no route matches), each with where it
 * comes from: the route's filter when it has one, else the global setting, else null (none).
 * Authentication exists only as a filter. Secrets are never shown: an htpasswd file's users and
 * hashes are counted, not listed; JWT keys are counted; a URL's password (and its query, which may
 * carry a token) is redacted. Header names are shown, never a value.
 */
export function effectivePolicies(route: RouteSpec | undefined, g: PolicyGlobals): object {
  const filters = route?.filters ?? [];
  const find = <T extends FilterSpec['type']>(type: T): Of<T> | undefined => filters.find((f): f is Of<T> => f.type === type);
  const access = find('AccessList');
  const limit = find('RateLimit');
  const compression = find('Compression');
  const globalAccess = g.allowCidrs.length > 0 || g.denyCidrs.length > 0;
  return {
    accessList: access !== undefined ? { from: FROM_FILTER, allow: access.accessList.allow, deny: access.accessList.deny }
      : globalAccess ? { from: 'ALLOW_CIDRS, DENY_CIDRS', allow: g.allowCidrs, deny: g.denyCidrs } : null,
    rateLimit: limit !== undefined ? describeLimit(FROM_FILTER, limit.rateLimit) : g.rateLimit === undefined ? null : describeLimit('RATE_LIMIT', g.rateLimit),
    auth: describeAuth(filters),
    compression: compression !== undefined ? describeCompression(FROM_FILTER, compression.compression)
      : g.compression.encodings.length === 0 ? null : describeCompression('COMPRESSION', g.compression),
  };
}

/** What `GET /api/routes` says of requests no route matches, and of the client address every policy reads. */
export function defaultPolicies(g: PolicyGlobals): object {
  return { clientAddress: { trustedProxies: g.trustedProxies, proxyProtocol: g.proxyProtocol }, policies: effectivePolicies(undefined, g) };
}

function describeLimit(from: string, s: RateLimitSpec): object {
  return { from, rate: s.rate.text, burst: s.burst, key: s.key, mode: s.mode, tableSize: s.tableSize };
}

function describeCompression(from: string, s: CompressionSettings): object {
  // A route's filter with no coding turns compression off for it: shown as off, not as absent.
  return { from, on: s.encodings.length > 0, encodings: s.encodings, types: s.types, minSize: s.minSize, levels: s.levels };
}

function describeAuth(filters: readonly FilterSpec[]): object | null {
  for (const f of filters) {
    switch (f.type) {
      case 'BasicAuth': {
        const a = f.basicAuth;
        return { from: FROM_FILTER, type: 'BasicAuth', htpasswd: a.htpasswd, realm: a.realm, users: a.users.length, keepAuthorization: a.keepAuthorization };
      }
      case 'ForwardAuth': {
        const a = f.forwardAuth;
        return {
          from: FROM_FILTER, type: 'ForwardAuth', address: secretFreeUrl(a.address), authRequestHeaders: a.authRequestHeaders,
          authResponseHeaders: a.authResponseHeaders, timeoutMs: a.timeout, cacheTtlMs: a.cacheTtl, keepAuthorization: a.keepAuthorization,
        };
      }
      case 'JWT': {
        const a = f.jwt;
        return {
          from: FROM_FILTER, type: 'JWT', jwksUrl: a.jwksUrl === undefined ? null : secretFreeUrl(a.jwksUrl), staticKeys: a.keys.length,
          issuer: a.issuer ?? null, audience: a.audience ?? null, algorithms: a.algorithms, clockSkewSeconds: a.clockSkew,
          claimsToHeaders: a.claimsToHeaders, keepAuthorization: a.keepAuthorization,
        };
      }
      default: break;
    }
  }
  return null;
}

/** A URL without its password or its query (either may hold a credential). */
function secretFreeUrl(url: string): string {
  const q = url.indexOf('?');
  return redact(q < 0 ? url : `${url.slice(0, q)}?${REDACTED}`) as string;
}
