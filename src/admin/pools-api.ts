import type { PoolSettings } from '../config/pools.js';
import type { Pool } from '../pool/index.js';
import type { RouteSpec } from '../routing/route-spec.js';
import type { PolicyGlobals } from './policies-api.js';

/** A pool as the admin API acts on it: its backends, its strategy and settings, and who to tell of a change. */
export interface AdminPool {
  readonly pool: Pool;
  /** The strategy picking its backends now. */
  strategy(): string;
  /** Its settings in effect, summed up (see `poolSettingsSummary`). */
  settings(): object;
  /** Called after each change made through the API to this pool (its state is written here). */
  changed(): void;
}

/** The routes as configured, and the compiled table's description when there is one. */
export interface RoutesView {
  readonly routes: readonly RouteSpec[];
  readonly table: string | undefined;
  /** The global settings routes' filters override: with them, each route shows its policies in effect. */
  readonly policies?: PolicyGlobals;
}

/** What sets pools apart, for `GET /api/pools`: the settings a pool may set for itself, durations in ms. */
export function poolSettingsSummary(s: PoolSettings): object {
  return {
    strategy: s.strategy,
    hashKey: s.strategy === 'consistent-hash' || s.strategy === 'maglev' ? s.hash.key : undefined,
    stickyCookie: s.sticky.cookie,
    timeoutMs: s.proxy.timeout,
    requestTimeoutMs: s.proxy.requestTimeout,
    retries: s.retry.retries,
    retryOnStatus: s.retry.onStatus,
    maxRequests: s.backend.maxRequests,
    queueSize: s.queue.size,
    outlierConsecutiveFailures: s.outlier.consecutiveFailures,
    healthType: s.health.type,
    healthService: s.health.type === 'grpc' ? s.health.service : undefined,
    healthPath: s.health.type === 'grpc' ? undefined : s.health.path,
    healthIntervalMs: s.health.interval,
  };
}

/** A pool as `GET /api/pools` lists it. */
export function describePool(name: string, p: AdminPool, isDefault: boolean): object {
  return {
    name,
    default: isDefault,
    strategy: p.strategy(),
    backends: p.pool.backends.length,
    available: p.pool.available.length,
    settings: p.settings(),
  };
}

/** A route as `GET /api/routes` lists it: what it matches and where it sends, its filters by type. */
export function describeRoute(r: RouteSpec): object {
  return {
    name: r.name,
    hostnames: r.hostnames,
    matches: r.matches,
    filters: r.filters.map((f) => f.type),
    backendRefs: r.backendRefs.map(({ name, weight }) => ({ name, weight })),
  };
}
