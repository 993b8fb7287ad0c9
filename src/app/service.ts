import type { CompressionPolicy } from '../proxy/compression/index.js';
import type { Logger } from 'pino';
import { createStrategy, Director, loadStrategyModule, Shadows, Sticky, type Strategy, type StrategyOptions } from '../balancer/index.js';
import type { PoolConfig } from '../config/pools.js';
import type { StateFile } from '../admin/state-file.js';
import { OutlierDetector, SlowStart, type HealthMonitor } from '../health/index.js';
import type { Backend, BackendTls, Pool } from '../pool/index.js';
import { Proxy, type ExplainGate, type Transport } from '../proxy/index.js';
import { ManagedPool, poolChanges } from './managed-pool.js';
import type { PoolKeeper } from './pool-keeper.js';
import { strategyChanged } from './reload.js';

/** What every pool of a balancer shares. */
export interface ServiceShared {
  readonly log: Logger;
  readonly transport: Transport;
  readonly backendTls: BackendTls;
  /** A pool's own TLS towards its backends (its `tls:` section); `backendTls` when it has none. */
  readonly backendTlsFor?: (settings: PoolConfig) => BackendTls;
  readonly explainGate: ExplainGate | undefined;
  /** STATE_FILE: one file, each pool's keeper reads and writes its own part. */
  readonly stateFile: StateFile | undefined;
  readonly limits: { readonly bodyTimeout: number; readonly sendTimeout: number; readonly maxBodySize: number };
  /** Health comes from a cluster primary: no checks here, no keeper. */
  readonly externalHealth: boolean;
  readonly strategyOffset: number;
  /** Told of every gateway failure (the backend's tally row). */
  readonly onGatewayFailure: (backend: Backend) => void;
  /** Whether the balancer has started (a backend added before is attached at start). */
  readonly started: () => boolean;
  /** COMPRESSION: one holder every pool's proxy reads, its policy replaced by a reload. */
  readonly compression: { policy: CompressionPolicy | undefined };
}

/**
 * One pool with everything that acts on it: the backends (and where they come from), the
 * strategy, the proxy's retry, timeout and queue policy, active and passive health, slow start.
 * A balancer has one per configured pool; routes pick among them.
 */
export class Service {
  readonly name: string;
  readonly pool: Pool;
  readonly director: Director;
  readonly proxy: Proxy;
  readonly log: Logger;
  #settings: PoolConfig;
  readonly #shared: ServiceShared;
  /** The pool with its keeper and health checks (none of either in a cluster worker). */
  readonly #managed: ManagedPool;
  readonly #outlier: OutlierDetector | undefined;
  readonly #slowStart: SlowStart;
  readonly #strategyOptions: StrategyOptions;
  readonly #customStrategy: boolean;
  /** STRATEGY_MODULE, loaded at start (the default pool only). */
  readonly #strategyModule: string | undefined;

  constructor(settings: PoolConfig, shared: ServiceShared, options: { readonly strategy?: Strategy; readonly strategyModule?: string } = {}) {
    this.name = settings.name;
    this.#settings = settings;
    this.#shared = shared;
    this.#managed = new ManagedPool(settings, { log: shared.log, stateFile: shared.stateFile, backendTls: shared.backendTlsFor?.(settings) ?? shared.backendTls, external: shared.externalHealth });
    this.log = this.#managed.log;
    this.pool = this.#managed.pool;
    this.#strategyOptions = {
      offset: shared.strategyOffset,
      hashKey: settings.hash.key,
      loadFactor: settings.hash.loadFactor,
      fallback: settings.hash.fallback,
    };
    this.#customStrategy = options.strategy !== undefined;
    this.#strategyModule = options.strategyModule;
    this.director = new Director(this.pool, this.#withSticky(options.strategy ?? createStrategy(settings.strategy, this.#strategyOptions)));
    // Passive health and slow start run in every process (each cluster worker sees its own traffic).
    this.#outlier = settings.outlier.consecutiveFailures === 0 ? undefined
      : new OutlierDetector(this.pool, settings.outlier, this.log.child({ component: 'outlier' }));
    this.#slowStart = new SlowStart(this.pool, settings.backend.slowStart);
    this.proxy = new Proxy(this.director, shared.transport, {
      timeout: settings.proxy.timeout,
      requestTimeout: settings.proxy.requestTimeout,
      bodyTimeout: shared.limits.bodyTimeout,
      sendTimeout: shared.limits.sendTimeout,
      retryAfter: Math.min(settings.health.interval / 1000, 30),
      maxBodySize: shared.limits.maxBodySize,
      retries: settings.retry.retries,
      retryOnStatus: settings.retry.onStatus,
      retryBudget: settings.retry.budget,
      queueSize: settings.queue.size,
      queueTimeout: settings.queue.timeout,
      outlier: this.#outlier,
      shadows: settings.shadowStrategies.length === 0 ? undefined
        : new Shadows(settings.shadowStrategies.map((name) => createStrategy(name, this.#strategyOptions)), () => this.director.strategy.name),
      onGatewayFailure: shared.onGatewayFailure,
      explainGate: shared.explainGate,
      compression: shared.compression,
    });
    // A backend added at runtime gets its connections at once; a removed one (drained by then)
    // loses them. Any change may give a request waiting in the queue a backend with room.
    this.pool.on('change', ({ kind, backend }) => {
      if (kind === 'added' && shared.started()) shared.transport.attach(backend);
      else if (kind === 'removed') void shared.transport.detach(backend);
      this.proxy.drainQueue();
    });
    this.pool.on('health', () => this.proxy.drainQueue());
    if (this.monitor === undefined) this.pool.on('health', ({ backend, healthy }) => this.log.debug({ backend: backend.id, healthy }, 'health update applied'));
  }

  /** The configured backends, DNS and the admin API's changes (STATE_FILE); not in a cluster worker. */
  get keeper(): PoolKeeper | undefined {
    return this.#managed.keeper;
  }

  /** The active health checks; not in a cluster worker. */
  get monitor(): HealthMonitor | undefined {
    return this.#managed.monitor;
  }

  /** After a change to the pool through the admin API (or the library): records it in STATE_FILE. */
  changed(): void {
    this.#managed.changed();
  }

  /** The pool's settings in effect. */
  get settings(): PoolConfig {
    return this.#settings;
  }

  #withSticky(strategy: Strategy): Strategy {
    const { cookie, secret } = this.#settings.sticky;
    if (cookie === undefined) return strategy;
    if (secret === undefined) this.log.warn({ pool: this.name }, 'STICKY_SECRET is not set: sticky cookies are signed with a random key and will not survive a restart');
    return new Sticky(strategy, { cookie, secret });
  }

  /** Loads STRATEGY_MODULE, attaches the backends and starts DNS discovery and the first health round. */
  async start(): Promise<void> {
    if (this.#strategyModule !== undefined && !this.#customStrategy) {
      this.director.strategy = this.#withSticky(await loadStrategyModule(this.#strategyModule, this.#strategyOptions));
    }
    for (const backend of this.pool.backends) this.#shared.transport.attach(backend);
    await this.#managed.start();
  }

  /** Backends found up by the first checks are as warm as they will get; later ones ramp up. */
  armSlowStart(): void {
    this.#slowStart.arm();
  }

  /**
   * Applies a pool's new settings (a reload): backends, strategy, retries, timeouts, queue and
   * health checks change for what comes next. Returns what changed, for the log. Throws on a
   * strategy that cannot be made (nothing changed then).
   */
  configure(next: PoolConfig, strategyModule: string | undefined): string[] {
    const before = this.#settings;
    let strategy: Strategy | undefined;
    if (!this.#customStrategy && strategyModule === undefined && strategyChanged(before, next)) {
      Object.assign(this.#strategyOptions, { hashKey: next.hash.key, loadFactor: next.hash.loadFactor, fallback: next.hash.fallback });
      strategy = createStrategy(next.strategy, this.#strategyOptions);
    }
    const changes = this.#managed.configure(next);
    this.#settings = next;
    if (strategy !== undefined) {
      this.director.strategy = this.#withSticky(strategy);
      changes.push(`strategy ${next.strategy}`);
    }
    this.proxy.configure({
      timeout: next.proxy.timeout, requestTimeout: next.proxy.requestTimeout, retries: next.retry.retries, retryOnStatus: next.retry.onStatus,
      retryBudget: next.retry.budget, queueSize: next.queue.size, queueTimeout: next.queue.timeout,
    });
    this.#shared.transport.setTimeout(next.proxy.timeout, this.pool.backends);
    return poolChanges(this.name, changes);
  }

  /** Stops health checks and DNS lookups (the balancer drains its listeners meanwhile). */
  async stopChecks(): Promise<void> {
    await this.#managed.stop();
  }

  /** Stops passive health and slow start, and closes the backends' connections. */
  async close(err?: Error): Promise<void> {
    this.#outlier?.stop();
    this.#slowStart.stop();
    await Promise.all(this.pool.backends.map((b) => this.#shared.transport.detach(b, err)));
  }
}
