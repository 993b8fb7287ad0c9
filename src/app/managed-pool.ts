import type { Logger } from 'pino';
import type { StateFile } from '../admin/state-file.js';
import { DEFAULT_POOL, type PoolConfig, type PoolSettings } from '../config/pools.js';
import { HealthMonitor } from '../health/index.js';
import { isDnsBackend, Pool, type BackendSpec, type BackendTls } from '../pool/index.js';
import { PoolKeeper } from './pool-keeper.js';
import { localProxyHeader } from '../edge/proxy-send.js';
import { logPoolEvents } from './reporting.js';

export interface ManagedPoolOptions {
  /** The balancer's logger; a pool other than `default` logs with `pool: NAME`. */
  readonly log: Logger;
  /** STATE_FILE, shared by every pool of the balancer (each keeps its own part). */
  readonly stateFile: StateFile | undefined;
  /** The pool's TLS towards its backends (its `tls:`, or the BACKEND_* settings): its health checks' and its backends'. */
  readonly backendTls: BackendTls;
  /** Backends and health come from a cluster primary: no keeper, no checks here. */
  readonly external: boolean;
}

/**
 * A pool and where its backends and their health come from: the configured backends, DNS and
 * STATE_FILE (the keeper), and the active health checks. A Service is built on one, and a
 * cluster primary owns one per configured pool (it routes nothing, so it needs no more). In a
 * cluster worker (`external`) it is the pool alone: the primary gives it backends and health.
 */
export class ManagedPool {
  readonly name: string;
  readonly log: Logger;
  readonly pool: Pool;
  /** The configured backends, DNS and the admin API's changes; none in a cluster worker. */
  readonly keeper: PoolKeeper | undefined;
  readonly monitor: HealthMonitor | undefined;

  /** Reads the pool's part of STATE_FILE (a corrupt file is a ConfigError). */
  constructor(settings: PoolConfig, options: ManagedPoolOptions) {
    this.name = settings.name;
    this.log = settings.name === DEFAULT_POOL ? options.log : options.log.child({ pool: settings.name });
    this.keeper = options.external ? undefined : new PoolKeeper(settings, options.stateFile?.part(settings.name), this.log);
    this.pool = new Pool(this.keeper?.specs ?? settings.backends.filter((b): b is BackendSpec => !isDnsBackend(b)), { maxRequests: settings.backend.maxRequests, proto: settings.proto, tls: options.backendTls, proxyProtocol: settings.proxyProtocol });
    this.keeper?.restore(this.pool);
    this.monitor = options.external ? undefined
      : new HealthMonitor(this.pool, settings.health, this.log.child({ component: 'health' }), undefined, options.backendTls, localProxyHeader(settings.proxyProtocol));
    if (this.monitor !== undefined) logPoolEvents(this.pool, this.log);
  }

  /** Looks up the `dns+` backends, then checks every backend once. */
  async start(): Promise<void> {
    await this.keeper?.start(this.pool);
    await this.monitor?.start();
  }

  /** Brings the pool to new settings (a reload): backends (runtime changes kept) and health checks. Returns what changed. */
  configure(next: PoolSettings): string[] {
    const changes = this.keeper?.reconcile(this.pool, next) ?? [];
    this.monitor?.configure(next.health);
    return changes;
  }

  /** After a change through the admin API (or the library): records it, and writes the pool's part of STATE_FILE. */
  changed(): void {
    this.keeper?.changed(this.pool);
  }

  /** Stops DNS lookups and health checks. */
  async stop(): Promise<void> {
    this.keeper?.stop();
    await this.monitor?.stop();
  }
}

/** A reload's changes to a pool as the log says them: `pool api: added …` for a pool other than `default`. */
export function poolChanges(name: string, changes: readonly string[]): string[] {
  return name === DEFAULT_POOL ? [...changes] : changes.map((c) => `pool ${name}: ${c}`);
}
