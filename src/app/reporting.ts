import type { Logger } from 'pino';
import { redact, redactConfig, type Config } from '../config/index.js';
import { defaultId, isDnsBackend, type Pool } from '../pool/index.js';

/** The effective configuration as the start-up line and `/api/config` show it: backends as URLs, secrets redacted. */
export function describeConfig(config: Config): object {
  const hasDefault = config.pools.some((p) => p.name === 'default');
  const { pools, routes, ...rest } = redactConfig(config) as Record<string, unknown>;
  void pools; void routes;
  return {
    ...rest,
    backends: hasDefault ? backendTexts(config.backends) : [],
    ...(config.pools.length === 1 && hasDefault ? {} : {
      pools: Object.fromEntries(config.pools.filter((p) => p.name !== 'default').map((p) => [p.name, { ...redactConfig(p), name: undefined, backends: backendTexts(p.backends) }])),
    }),
    ...(config.routes.length === 0 ? {} : { routes: config.routes.map((r) => r.name) }),
  };
}

function backendTexts(backends: Config['backends']): unknown[] {
  return backends.map((b) => redact(isDnsBackend(b) ? b.text : `${b.url}${b.id === defaultId(b.origin) ? '' : `|id=${b.id}`}${b.weight === 1 ? '' : `|weight=${b.weight}`}`));
}

/**
 * True when requests would get 503 now: nothing is available, and no enabled backend is still
 * waiting for its first health verdict (at start-up the first refusal comes before the others'
 * answers, and saying the pool is empty then is false).
 */
function poolIsEmpty(pool: Pool): boolean {
  return pool.available.length === 0 && pool.backends.length > 0 && pool.backends.every((b) => b.checked || b.admin !== 'enabled');
}

/**
 * Logs every health flip once (up at info, down at warn with the reason, an empty pool at
 * error) and every change an operator makes to the pool.
 */
export function logPoolEvents(pool: Pool, log: Logger): void {
  pool.on('health', ({ backend, healthy, reason }) => {
    if (healthy) log.info({ backend: backend.id, url: backend.url, healthy }, 'backend is up');
    else log.warn({ backend: backend.id, url: backend.url, healthy, reason }, 'backend is down');
    if (!healthy && poolIsEmpty(pool)) log.error('no backend available: answering 503');
  });
  pool.on('change', ({ kind, backend }) => {
    // Ejections and returns are logged by outlier detection, with their reasons.
    if (kind === 'ejected' || kind === 'returned' || kind === 'canary') return;
    if (kind === 'warning') {
      if (backend.warning === undefined) log.info({ backend: backend.id, url: backend.url }, 'backend no longer warns: full share of traffic');
      else log.warn({ backend: backend.id, url: backend.url, warning: backend.warning, share: backend.healthFactor }, 'backend warns: reduced share of traffic');
      return;
    }
    log.info({ backend: backend.id, url: backend.url, change: kind, state: backend.state, weight: backend.weight }, `backend ${kind}`);
    if ((kind === 'admin' || kind === 'removed') && poolIsEmpty(pool)) {
      log.error('no backend available: answering 503');
    }
  });
}
