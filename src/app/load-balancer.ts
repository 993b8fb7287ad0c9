import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createStrategy, Director, loadStrategyModule, Sticky, type Strategy, type StrategyOptions } from '../balancer/index.js';
import type { Config } from '../config/index.js';
import { HealthMonitor } from '../health/index.js';
import { accessLog, compose, requestId } from '../middleware/index.js';
import { Pool } from '../pool/index.js';
import { attachUpstreams, closeUpstreams, Proxy } from '../proxy/index.js';
import { HttpListener } from '../server/index.js';
import { createLogger, flushLogger } from './logger.js';

export interface LoadBalancerOptions {
  /** A pino logger; by default one is made from `config.log`. */
  readonly logger?: Logger;
  /** A strategy object to use instead of the one `config.strategy` names. */
  readonly strategy?: Strategy;
  /** Where rotating strategies start (worker processes use different offsets). */
  readonly strategyOffset?: number;
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
  readonly config: Config;
  readonly pool: Pool;
  readonly log: Logger;
  readonly director: Director;
  readonly #proxy: Proxy;
  readonly #monitor: HealthMonitor;
  readonly #listener: HttpListener;
  readonly #strategyOptions: StrategyOptions;
  readonly #customStrategy: boolean;
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  #stopping: Promise<StopResult> | undefined;

  constructor(config: Config, options: LoadBalancerOptions = {}) {
    this.config = config;
    this.log = options.logger ?? createLogger(config.log);
    this.pool = new Pool(config.backends);
    this.#strategyOptions = {
      offset: options.strategyOffset ?? 0,
      hashKey: config.hash.key,
      loadFactor: config.hash.loadFactor,
      fallback: config.hash.fallback,
    };
    this.#customStrategy = options.strategy !== undefined;
    this.director = new Director(this.pool, this.#withSticky(options.strategy ?? createStrategy(config.strategy, this.#strategyOptions)));
    this.#proxy = new Proxy(this.director, { timeout: config.proxy.timeout, retryAfter: Math.min(config.health.interval / 1000, 30) });
    this.#monitor = new HealthMonitor(this.pool, config.health, this.log.child({ component: 'health' }));
    const chain = compose([requestId(), accessLog(this.log)], this.#proxy.handle);
    this.#listener = new HttpListener(chain, { host: config.host, port: config.port }, this.log);
    this.pool.on('health', ({ backend, healthy, reason }) => {
      if (healthy) this.log.info({ backend: backend.url, healthy }, 'backend is up');
      else this.log.warn({ backend: backend.url, healthy, reason }, 'backend is down');
      if (this.pool.healthy.length === 0 && this.#state === 'running') this.log.error('no healthy backend: answering 503');
    });
  }

  #withSticky(strategy: Strategy): Strategy {
    const { cookie, secret } = this.config.sticky;
    if (cookie === undefined) return strategy;
    if (secret === undefined) this.log.warn('STICKY_SECRET is not set: sticky cookies are signed with a random key and will not survive a restart');
    return new Sticky(strategy, { cookie, secret });
  }

  /** The listening address, once started. */
  get address(): AddressInfo | undefined {
    return this.#state === 'running' || this.#state === 'stopping' ? this.#listener.address : undefined;
  }

  /** Requests being proxied right now. */
  get inFlight(): number {
    return this.#listener.inFlight;
  }

  /** Checks every backend once, then listens. Rejects (and cleans up) when the port cannot be bound. */
  async start(): Promise<AddressInfo> {
    if (this.#state !== 'new') throw new Error(`cannot start a load balancer that is ${this.#state}`);
    this.#state = 'starting';
    const { config } = this;
    if (config.strategyModule !== undefined && !this.#customStrategy) {
      this.director.strategy = this.#withSticky(await loadStrategyModule(config.strategyModule, this.#strategyOptions));
    }
    const shown = { ...config, backends: config.backends.map((b) => (b.weight === 1 ? b.url : `${b.url}|weight=${b.weight}`)),
      sticky: { ...config.sticky, secret: config.sticky.secret === undefined ? undefined : '[redacted]' } };
    this.log.info({ config: shown }, 'starting');
    attachUpstreams(this.pool.backends, {
      connections: Math.min(config.http.maxIdleConnsPerHost, config.http.maxIdleConns),
      idleTimeout: config.http.idleConnTimeout,
      timeout: config.proxy.timeout,
    });
    try {
      await this.#monitor.start();
      const address = await this.#listener.listen();
      this.#state = 'running';
      this.log.info({ address: address.address, port: address.port, strategy: this.director.strategy.name,
        healthy: this.pool.healthy.length, backends: this.pool.backends.length }, 'listening');
      return address;
    } catch (err) {
      this.#state = 'stopped';
      await this.#monitor.stop();
      await closeUpstreams(this.pool.backends, true);
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
    this.log.info({ inFlight: this.#listener.inFlight, timeout }, 'shutting down');
    this.#proxy.draining = true;
    const [cut] = await Promise.all([
      wasRunning ? this.#listener.drain(timeout) : Promise.resolve(0),
      this.#monitor.stop(),
    ]);
    if (cut > 0) this.log.warn({ cut, timeout }, 'shutdown timeout reached: requests cut');
    await closeUpstreams(this.pool.backends, cut > 0);
    this.#state = 'stopped';
    this.log.info({ cut }, 'stopped');
    flushLogger(this.log);
    return { cut };
  }
}
