import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { AdminServer, AdminToken, EventLog, type AdminTarget, type ReloadOutcome } from '../admin/index.js';
import { createStrategy, Director, loadStrategyModule, Shadows, Sticky, type Strategy, type StrategyOptions } from '../balancer/index.js';
import type { Config } from '../config/index.js';
import { HealthMonitor, OutlierDetector, SlowStart } from '../health/index.js';
import { countRequests, Metrics, Tally, type Counts, type ProcessCounts } from '../metrics/index.js';
import { accessLog, compose, requestId, type LineSink } from '../middleware/index.js';
import { isDnsBackend, Pool, type Backend, type BackendSpec, type BackendTls } from '../pool/index.js';
import { ExplainGate, NodeTransport, Proxy, ProxyError, type ConnectionStats, type Transport } from '../proxy/index.js';
import { HttpListener, type Listener } from '../server/index.js';
import { FastEngine } from '../engine/index.js';
import { STARTED_AT, VERSION } from '../version.js';
import { LogDestination } from './log-destination.js';
import { createLogging, flushLogger } from './logger.js';
import { PoolKeeper } from './pool-keeper.js';
import { keeping, reloaded, reloadFailed, restartOnly, strategyChanged } from './reload.js';
import { describeConfig, logPoolEvents } from './reporting.js';
import { backendTls, keyPairOrConfigError, loadKeyPair, watchFiles, watchKeyPair } from './tls-files.js';

export interface LoadBalancerOptions {
  /** A pino logger; by default one is made from `config.log`. */
  readonly logger?: Logger;
  /** With `logger`: where its access lines may be written directly (see `createLogging`); else through the logger. */
  readonly accessLines?: LineSink;
  /** A strategy object to use instead of the one `config.strategy` names. */
  readonly strategy?: Strategy;
  /** Where rotating strategies start (worker processes use different offsets). */
  readonly strategyOffset?: number;
  /**
   * Health comes from elsewhere (a cluster worker gets it from the primary): no health checks
   * run here, and `pool.setHealth` is the caller's to call, before `start()` and after.
   */
  readonly externalHealth?: boolean;
  /**
   * Reads the configuration again (the `lb` command re-reads its file, `.env` and flags), for
   * reloads on SIGHUP and through the admin API. Throws ConfigError.
   */
  readonly loadConfig?: () => Config;
  /** Files whose change triggers a reload (the config file, `.env`); polled once a second. */
  readonly watch?: readonly string[];
}

export interface StopResult {
  /** Requests still running at the shutdown timeout, and so cut. */
  readonly cut: number;
}

/**
 * The wiring and lifecycle: pool → health monitor, director → proxy → middleware chain →
 * listener. `start()` runs the first health round before accepting traffic; `stop()` drains.
 */
export class LoadBalancer {
  #config: Config;
  readonly pool: Pool;
  readonly log: Logger;
  readonly director: Director;
  /** Request counters behind the metrics. */
  readonly tally = new Tally();
  /** Health flips, ejections, changes and reloads, the newest last. */
  readonly events = new EventLog();
  /** Configuration reloads since start-up. */
  readonly reloads = { succeeded: 0, failed: 0 };
  #metrics: Metrics | undefined;
  #admin: AdminServer | undefined;
  readonly #logDestination: LogDestination | undefined;
  /** The configured backends and the admin API's changes (STATE_FILE); not in a cluster worker. */
  readonly #keeper: PoolKeeper | undefined;
  readonly #loadConfig: (() => Config) | undefined;
  readonly #watch: readonly string[];
  #unwatchConfig: (() => void) | undefined;
  readonly #proxy: Proxy;
  /** How requests reach backends: the fast engine, or node:http + undici. */
  readonly #transport: Transport;
  readonly #outlier: OutlierDetector | undefined;
  readonly #slowStart: SlowStart;
  readonly #monitor: HealthMonitor | undefined;
  /** The main listener (PORT), then the plain-HTTP one (HTTP_PORT) when there is one. */
  readonly #listeners: Listener[];
  /** ENGINE=fast (and its self-test passed): the plain HTTP/1.1 listeners' engine. */
  readonly #fast: FastEngine | undefined;
  #unwatchTls: (() => void) | undefined;
  readonly #strategyOptions: StrategyOptions;
  readonly #customStrategy: boolean;
  readonly #backendTls: BackendTls;
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  #stopping: Promise<StopResult> | undefined;

  constructor(config: Config, options: LoadBalancerOptions = {}) {
    this.#config = config;
    const logging = options.logger === undefined ? createLogging(config.log) : { log: options.logger, lines: options.accessLines };
    this.log = logging.log;
    this.#logDestination = logging.lines?.destination instanceof LogDestination ? logging.lines.destination : undefined;
    this.#loadConfig = options.loadConfig;
    this.#watch = options.watch ?? [];
    this.#keeper = options.externalHealth === true ? undefined : new PoolKeeper(config, this.log);
    this.pool = new Pool(this.#keeper?.specs ?? config.backends.filter((b): b is BackendSpec => !isDnsBackend(b)), { maxRequests: config.backend.maxRequests });
    this.#keeper?.restore(this.pool);
    this.#strategyOptions = {
      offset: options.strategyOffset ?? 0,
      hashKey: config.hash.key,
      loadFactor: config.hash.loadFactor,
      fallback: config.hash.fallback,
    };
    this.#customStrategy = options.strategy !== undefined;
    this.#backendTls = backendTls(config);
    this.director = new Director(this.pool, this.#withSticky(options.strategy ?? createStrategy(config.strategy, this.#strategyOptions)));
    // Passive health and slow start run in every process (each cluster worker sees its own traffic).
    this.#outlier = config.outlier.consecutiveFailures === 0 ? undefined
      : new OutlierDetector(this.pool, config.outlier, this.log.child({ component: 'outlier' }));
    this.#slowStart = new SlowStart(this.pool, config.backend.slowStart);
    const tls = config.tls.cert === undefined ? undefined : keyPairOrConfigError(config.tls.cert, config.tls.key!);
    // The fast engine serves plain HTTP/1.1; with TLS every listener is node:http's, and so is the transport.
    this.#fast = config.engine === 'fast' && tls === undefined ? this.#fastEngine(config) : undefined;
    this.#transport = this.#fast ?? new NodeTransport({
      maxIdlePerBackend: config.http.maxIdleConnsPerHost,
      maxIdle: config.http.maxIdleConns,
      idleTimeout: config.http.idleConnTimeout,
      timeout: config.proxy.timeout,
      connectTimeout: config.proxy.connectTimeout,
      maxBodySize: config.limits.maxBodySize,
      tunnelIdleTimeout: config.websocket.idleTimeout,
      tls: this.#backendTls,
    });
    this.#proxy = new Proxy(this.director, this.#transport, {
      timeout: config.proxy.timeout,
      requestTimeout: config.proxy.requestTimeout,
      bodyTimeout: config.limits.bodyTimeout,
      sendTimeout: config.limits.sendTimeout,
      retryAfter: Math.min(config.health.interval / 1000, 30),
      maxBodySize: config.limits.maxBodySize,
      retries: config.retry.retries,
      retryOnStatus: config.retry.onStatus,
      retryBudget: config.retry.budget,
      queueSize: config.queue.size,
      queueTimeout: config.queue.timeout,
      outlier: this.#outlier,
      shadows: config.shadowStrategies.length === 0 ? undefined
        : new Shadows(config.shadowStrategies.map((name) => createStrategy(name, this.#strategyOptions)), () => this.director.strategy.name),
      onGatewayFailure: (backend) => this.tally.gatewayFailure(backend),
      // With an admin token, a request carrying it in X-LB-Explain is told how it was routed.
      explainGate: config.admin.token === undefined ? undefined : new ExplainGate(new AdminToken(config.admin.token)),
    });
    // A backend added at runtime gets its connections at once; a removed one (drained by then)
    // loses them. Any change may give a request waiting in the queue a backend with room.
    this.pool.on('change', ({ kind, backend }) => {
      if (kind === 'added' && this.#state !== 'new') this.#transport.attach(backend);
      else if (kind === 'removed') void this.#transport.detach(backend);
      this.#proxy.drainQueue();
    });
    this.pool.on('health', () => this.#proxy.drainQueue());
    this.#monitor = options.externalHealth === true ? undefined
      : new HealthMonitor(this.pool, config.health, this.log.child({ component: 'health' }), undefined, this.#backendTls);
    const chain = compose([requestId(), accessLog(this.log, logging.lines), countRequests(this.tally)], this.#proxy.handle);
    this.events.watch(this.pool);
    const fast = this.#fast;
    this.#listeners = [fast !== undefined && tls === undefined
      ? fast.listener(chain, { host: config.host, port: config.port, limits: config.limits }, this.log)
      : new HttpListener(chain, { host: config.host, port: config.port, limits: config.limits, tls }, this.log)];
    if (tls !== undefined && config.tls.httpPort !== undefined) {
      this.#listeners.push(fast !== undefined && !config.tls.redirect
        ? fast.listener(chain, { host: config.host, port: config.tls.httpPort, limits: config.limits }, this.log)
        : new HttpListener(chain, {
          host: config.host, port: config.tls.httpPort, limits: config.limits,
          redirectToPort: config.tls.redirect ? () => this.#listeners[0]!.address.port : undefined,
        }, this.log));
    }
    if (this.#monitor !== undefined) logPoolEvents(this.pool, this.log);
    else this.pool.on('health', ({ backend, healthy }) => this.log.debug({ backend: backend.id, healthy }, 'health update applied'));
  }


  /** The fast engine, unless its self-test finds Node's parser other than it expects (then node:http, with a warning). */
  #fastEngine(config: Config): FastEngine | undefined {
    const problem = FastEngine.check();
    if (problem !== undefined) {
      this.log.warn({ problem }, 'ENGINE=fast is not available on this Node.js: using the node engine');
      return undefined;
    }
    return new FastEngine({
      maxIdlePerBackend: config.http.maxIdleConnsPerHost,
      maxIdle: config.http.maxIdleConns,
      idleTimeout: config.http.idleConnTimeout,
      connectTimeout: config.proxy.connectTimeout,
      maxBodySize: config.limits.maxBodySize,
      tunnelIdleTimeout: config.websocket.idleTimeout,
      tls: this.#backendTls,
    });
  }

  /** The configuration in effect (a reload replaces it). */
  get config(): Config {
    return this.#config;
  }

  #withSticky(strategy: Strategy): Strategy {
    const { cookie, secret } = this.config.sticky;
    if (cookie === undefined) return strategy;
    if (secret === undefined) this.log.warn('STICKY_SECRET is not set: sticky cookies are signed with a random key and will not survive a restart');
    return new Sticky(strategy, { cookie, secret });
  }

  /** The listening address, once started. */
  get address(): AddressInfo | undefined {
    return this.#state === 'running' || this.#state === 'stopping' ? this.#listeners[0]!.address : undefined;
  }

  /** Every listening address: PORT first, then HTTP_PORT when set. */
  get addresses(): AddressInfo[] {
    return this.#listeners.map((l) => l.address);
  }

  /** The Prometheus metrics of this balancer (made on first use). */
  get metrics(): Metrics {
    this.#metrics ??= new Metrics({ pool: this.pool, counts: () => this.counts(), reloads: this.reloads });
    return this.#metrics;
  }

  /** The admin listener's address, when ADMIN_PORT is set and the balancer is running. */
  get adminAddress(): AddressInfo | undefined {
    return this.#admin?.server.listening === true ? this.#admin.server.address() as AddressInfo : undefined;
  }

  /** This process's counters as of now. */
  async processCounts(): Promise<ProcessCounts> {
    const connections = await Promise.all(this.#listeners.map((l) => l.connections()));
    return {
      shadow: this.#proxy.shadows?.image(),
      retries: this.#proxy.retried,
      queued: this.#proxy.queued,
      connections: connections.reduce((a, b) => a + b, 0),
      logLinesDropped: this.#logDestination?.droppedTotal ?? 0,
      backendConnections: Object.fromEntries(this.pool.backends.map((b) => {
        const stats = this.#transport.connections(b);
        return [b.id, [stats.busy, stats.idle]];
      })),
    };
  }

  /** What a scrape of this process reads. */
  async counts(): Promise<Counts> {
    return { rows: [...this.tally.entries()], process: await this.processCounts() };
  }

  /** The connections to a backend now (this process's), busy and idle. */
  connections(backend: Backend): ConnectionStats {
    return this.#transport.connections(backend);
  }

  /** Attempts in flight now, and how many of them are retries: 0 and 0 when idle (tunnels are not attempts). */
  get attempts(): { readonly active: number; readonly retrying: number } {
    return { active: this.#proxy.active, retrying: this.#proxy.retrying };
  }

  /** Requests being proxied right now, open tunnels included. */
  get inFlight(): number {
    return this.#listeners.reduce((n, l) => n + l.inFlight, 0);
  }

  /**
   * Re-reads TLS_CERT_FILE and TLS_KEY_FILE (on SIGHUP, or when they change). New connections
   * get the new certificate; open ones keep theirs. A bad pair keeps the old one and logs why.
   */
  reloadTls(): boolean {
    const { cert, key } = this.config.tls;
    if (cert === undefined || key === undefined) return false;
    try {
      this.#listeners[0]!.setSecureContext(loadKeyPair(cert, key));
      this.log.info({ cert, key }, 'TLS certificate reloaded');
      return true;
    } catch (err) {
      this.log.error({ cert, key, err: (err as Error).message }, 'TLS certificate reload failed: keeping the current certificate');
      return false;
    }
  }

  /** What the admin API acts on in a single process. */
  #adminTarget(): AdminTarget {
    const lb = this;
    return {
      pool: this.pool,
      get metrics() { return lb.metrics; },
      events: this.events,
      counts: () => this.counts(),
      info: () => ({ strategy: this.director.strategy.name, version: VERSION, workers: 0, startedAt: STARTED_AT, tokenRequired: this.config.admin.token !== undefined }),
      get draining() { return lb.#state !== 'running'; },
      describeConfig: () => describeConfig(this.config),
      settled: () => Promise.resolve(),
      changed: () => this.#keeper?.changed(this.pool),
      reload: () => Promise.resolve(this.reload()),
    };
  }

  /**
   * Reads the configuration again and applies it without dropping a connection: the pool is
   * brought to the new backends (runtime changes kept), and the strategy, retries, queue size,
   * health checks and log level change for what comes next. Settings that need a restart are
   * named in a warning. An invalid configuration changes nothing.
   */
  /** Whether `reload()` has a configuration to read. */
  get reloadable(): boolean {
    return this.#loadConfig !== undefined;
  }

  reload(): ReloadOutcome {
    if (this.#loadConfig === undefined) return { ok: false, error: 'this balancer has no configuration source to reload from' };
    let next: Config;
    try {
      next = this.#loadConfig();
    } catch (err) {
      return reloadFailed(this, err as Error);
    }
    return this.applyConfig(next);
  }

  /** Applies a new configuration (see `reload`); a cluster worker is given its primary's. */
  applyConfig(next: Config): ReloadOutcome {
    const before = this.#config;
    const restart = restartOnly(before, next);
    const needRestart = restart.map((s) => s.env);
    let strategy: Strategy | undefined;
    try {
      if (!this.#customStrategy && next.strategyModule === undefined && strategyChanged(before, next)) {
        Object.assign(this.#strategyOptions, { hashKey: next.hash.key, loadFactor: next.hash.loadFactor, fallback: next.hash.fallback });
        strategy = createStrategy(next.strategy, this.#strategyOptions);
      }
    } catch (err) {
      return reloadFailed(this, err as Error);
    }
    const changes = this.#keeper?.reconcile(this.pool, next) ?? [];
    if (strategy !== undefined) {
      this.#config = next; // #withSticky reads the new sticky settings
      this.director.strategy = this.#withSticky(strategy);
      changes.push(`strategy ${next.strategy}`);
    }
    this.#proxy.configure({
      timeout: next.proxy.timeout, requestTimeout: next.proxy.requestTimeout, retries: next.retry.retries, retryOnStatus: next.retry.onStatus,
      retryBudget: next.retry.budget, queueSize: next.queue.size, queueTimeout: next.queue.timeout,
    });
    this.#transport.setTimeout(next.proxy.timeout, this.pool.backends);
    this.#monitor?.configure(next.health);
    if (next.log.level !== before.log.level) this.log.level = next.log.level;
    // What is in effect: the new values, but the old ones of what needs a restart.
    this.#config = keeping(next, before, restart.map((s) => s.key));
    return reloaded(this, changes, needRestart);
  }

  /**
   * Checks every backend once, then listens. Resolves with the traffic listener's address
   * (`address`, `family`, `port`; with `port: 0`, the port the system picked; with TLS, the HTTPS
   * listener's); the admin listener's is `adminAddress`. Rejects (and cleans up) when a port
   * cannot be bound.
   */
  async start(): Promise<AddressInfo> {
    if (this.#state !== 'new') throw new Error(`cannot start a load balancer that is ${this.#state}`);
    this.#state = 'starting';
    const { config } = this;
    if (config.strategyModule !== undefined && !this.#customStrategy) {
      this.director.strategy = this.#withSticky(await loadStrategyModule(config.strategyModule, this.#strategyOptions));
    }
    // A cluster worker's configuration is the primary's, which the primary logs.
    if (this.#monitor === undefined) this.log.debug({ config: describeConfig(config) }, 'starting');
    else this.log.info({ config: describeConfig(config) }, 'starting');
    if (config.backendTls.insecure) {
      this.log.warn('BACKEND_TLS_INSECURE is set: https:// backends are NOT verified; anyone on the path can impersonate them');
    }
    for (const backend of this.pool.backends) this.#transport.attach(backend);
    if (this.#fast !== undefined) {
      const problem = await FastEngine.checkIo();
      if (problem !== undefined) this.log.warn({ problem }, 'ENGINE=fast: direct socket I/O does not work on this Node.js: what fails goes through net\'s streams');
    }
    try {
      await this.#keeper?.start(this.pool);
      await this.#monitor?.start();
      // Backends found up by the first checks are as warm as they will get; later ones ramp up.
      this.#slowStart.arm();
      for (const listener of this.#listeners) {
        const address = await listener.listen();
        this.log.info({ address: address.address, port: address.port, proto: listener.proto, engine: listener.engine, strategy: this.director.strategy.name,
          available: this.pool.available.length, backends: this.pool.backends.length }, this.#monitor === undefined ? 'worker listening' : 'listening');
      }
      if (config.admin.port !== undefined && this.#keeper !== undefined) {
        this.#admin = new AdminServer(this.#adminTarget(), { ...config.admin, port: config.admin.port }, this.log.child({ component: 'admin' }));
        const admin = await this.#admin.listen();
        this.log.info({ address: admin.address, port: admin.port, token: config.admin.token !== undefined }, 'admin listening');
      }
      this.#state = 'running';
      if (this.#watch.length > 0 && this.#loadConfig !== undefined) {
        this.#unwatchConfig = watchFiles(this.#watch, () => {
          this.log.info({ files: this.#watch }, 'configuration file changed: reloading');
          this.reload();
        }, 1000);
      }
      if (config.tls.cert !== undefined) this.#unwatchTls = watchKeyPair(config.tls.cert, config.tls.key!, () => this.reloadTls());
      return this.#listeners[0]!.address;
    } catch (err) {
      this.#state = 'stopped';
      this.#keeper?.stop();
      await this.#monitor?.stop();
      for (const listener of this.#listeners) if (listener.server.listening) listener.server.close();
      await this.#admin?.close();
      await Promise.all(this.pool.backends.map((b) => this.#transport.detach(b, err as Error)));
      throw err;
    }
  }

  /**
   * Graceful stop: stop accepting, stop health checks, let requests in flight finish within
   * `shutdown.timeout` (then cut them and log how many), close upstream pools.
   */
  stop(): Promise<StopResult> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<StopResult> {
    const wasRunning = this.#state === 'running';
    this.#state = 'stopping';
    const timeout = this.config.shutdown.timeout;
    this.log.info({ inFlight: this.inFlight, timeout }, 'shutting down');
    this.#proxy.draining = true;
    this.#unwatchTls?.();
    this.#unwatchConfig?.();
    this.#keeper?.stop();
    const [cut] = await Promise.all([
      wasRunning ? this.#drain(timeout) : Promise.resolve(0),
      this.#monitor?.stop(),
    ]);
    this.#outlier?.stop();
    this.#slowStart.stop();
    if (cut > 0) this.log.warn({ cut, timeout }, 'shutdown timeout reached: requests cut');
    await Promise.all(this.pool.backends.map((b) => this.#transport.detach(b)));
    await this.#transport.close();
    await this.#admin?.close();
    this.#state = 'stopped';
    this.log.info({ cut }, 'stopped');
    flushLogger(this.log);
    return { cut };
  }

  /** Stop accepting, close idle connections, wait for requests (tunnels included); cut what is left at the timeout. */
  async #drain(timeout: number): Promise<number> {
    const closed = this.#listeners.map((l) => l.stopAccepting());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.#listeners.map((l) => l.whenIdle())),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, timeout); }),
    ]);
    clearTimeout(timer);
    const cut = this.inFlight;
    // Requests still waiting on a backend are answered 503 (or cut, once their response has
    // started), each with its access line; then every connection left is closed.
    if (cut > 0) {
      await this.#transport.cut(SHUTDOWN_CUT);
    }
    for (const listener of this.#listeners) listener.closeAll();
    // A destroyed socket says 'close' a turn of the event loop later: wait for those, so that
    // every request cut here gets its access line before the process exits.
    await Promise.all([...closed, ...this.#listeners.map((l) => l.whenIdle())]);
    return cut;
  }
}

const SHUTDOWN_CUT = new ProxyError('LB_ERR_SHUTDOWN', 'still running at the shutdown timeout');
