import { Agent } from 'undici';
import type { Logger } from 'pino';
import type { Backend, BackendTls, Pool } from '../pool/index.js';
import { backendConnector } from '../tls/backend-tls.js';
import { httpCheck, type CheckFn, type CheckResult } from './check.js';
import { grpcCheck } from './grpc-check.js';
import { h2Check } from './h2-check.js';
import { connectorWithHeader } from '../edge/proxy-send.js';

export interface HealthOptions {
  /** `http` (a GET, the default) or `grpc` (`grpc.health.v1.Health/Check`, HTTP/2 backends only). */
  readonly type?: 'http' | 'grpc';
  /** The service a grpc check asks about; '' (the default) is the server as a whole. */
  readonly service?: string;
  /** Path on each backend's origin; undefined checks the backend URL itself. Not used by grpc checks. */
  readonly path: string | undefined;
  /** Between checks of a backend that is up and steady. */
  readonly interval: number;
  /** Between checks of a backend that is down, or whose last check disagreed with its state. */
  readonly downInterval?: number;
  readonly timeout: number;
  /** Consecutive passes that bring a down backend up. */
  readonly rise: number;
  /** Consecutive failures that take an up backend down. */
  readonly fall: number;
  /** The share of its traffic a backend takes while its checks warn (`application/health+json`); 1 when absent. */
  readonly warnWeight?: number;
}

/**
 * Active health checks. The first round checks every backend concurrently, each bounded by the
 * timeout, before traffic is accepted; then each backend has its own schedule: `interval` while
 * it is up and steady, `downInterval` while it is down or a check has just disagreed with its
 * state (HAProxy's `downinter` and `fastinter`), so that a backend that comes back, or goes
 * away, is seen within seconds while one lost check is not an outage (`fall`). A backend added
 * at runtime is checked at once and takes traffic only once a check has passed. Each check
 * opens its own connection, as HAProxy's do: a backend that has closed its listener but still
 * answers on its old connections is seen as down.
 */
export class HealthMonitor {
  readonly #pool: Pool;
  #options: HealthOptions;
  #downInterval: number;
  readonly #log: Logger;
  readonly #check: CheckFn;
  /** For backends spoken to over HTTP/2 (`proto` h2c or h2); the injected check when one is. */
  readonly #h2Check: CheckFn;
  /** For `type: grpc`, asking about the configured service; the injected check when one is. */
  #grpcCheck: CheckFn;
  readonly #injected: boolean;
  readonly #tls: BackendTls | undefined;
  readonly #agent: Agent | undefined;
  readonly #timers = new Map<Backend, NodeJS.Timeout>();
  readonly #running = new Set<Promise<void>>();
  #started = false;
  #stopped = false;

  /** `proxyHeader`: what each check's connection opens with when the pool sends the PROXY protocol (v2 LOCAL, v1 UNKNOWN). */
  constructor(pool: Pool, options: HealthOptions, log: Logger, check?: CheckFn, tls?: BackendTls, proxyHeader?: Buffer) {
    this.#pool = pool;
    this.#options = options;
    this.#downInterval = Math.min(options.downInterval ?? options.interval, options.interval);
    this.#log = log;
    this.#h2Check = check ?? h2Check(tls);
    this.#grpcCheck = check ?? grpcCheck(tls, options.service ?? '');
    this.#injected = check !== undefined;
    this.#tls = tls;
    if (check === undefined) {
      // Each connection takes the TLS files as they are when it opens (they are reloaded on change).
      const connect = backendConnector(tls, options.timeout);
      this.#agent = new Agent({ connect: proxyHeader === undefined ? connect : connectorWithHeader(connect, proxyHeader) });
      check = httpCheck(this.#agent);
    }
    this.#check = check;
    pool.on('change', ({ kind, backend }) => {
      if (kind === 'added' && this.#started) void this.#checkAndSchedule(backend);
      if (kind === 'removed') this.#unschedule(backend);
    });
  }

  /**
   * New type, service, path, interval, timeout, rise and fall for the checks from now on (a
   * reload); each backend's next check comes at its new interval. The connect timeout stays the
   * first one.
   */
  configure(options: HealthOptions): void {
    const intervalChanged = options.interval !== this.#options.interval || options.downInterval !== this.#options.downInterval;
    if (!this.#injected && (options.service ?? '') !== (this.#options.service ?? '')) this.#grpcCheck = grpcCheck(this.#tls, options.service ?? '');
    this.#options = options;
    this.#downInterval = Math.min(options.downInterval ?? options.interval, options.interval);
    if (intervalChanged && this.#started) for (const backend of [...this.#timers.keys()]) void this.#checkAndSchedule(backend);
  }

  /** Runs the first round (resolves when every backend has a verdict), then keeps checking. */
  async start(): Promise<void> {
    this.#started = true;
    this.#stopped = false;
    await Promise.all(this.#pool.backends.map((b) => this.#checkAndSchedule(b)));
  }

  /** Stops checking; a check in progress finishes but changes nothing after stop. */
  async stop(): Promise<void> {
    this.#started = false;
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await Promise.all(this.#running);
    await this.#agent?.close().catch(() => undefined);
  }

  /** Checks every backend once now, concurrently (their schedules are unchanged). Never rejects. */
  async runRound(): Promise<void> {
    await Promise.all(this.#pool.backends.map((b) => this.#checkOne(b)));
  }

  async #checkAndSchedule(backend: Backend): Promise<void> {
    this.#unschedule(backend);
    await this.#checkOne(backend);
    if (!this.#started || this.#pool.get(backend.id) !== backend) return;
    const state = backend.hysteresis;
    const steady = state.healthy === true && state.streak === 0;
    const timer = setTimeout(() => void this.#checkAndSchedule(backend), steady ? this.#options.interval : this.#downInterval);
    timer.unref();
    this.#timers.set(backend, timer);
  }

  #unschedule(backend: Backend): void {
    clearTimeout(this.#timers.get(backend));
    this.#timers.delete(backend);
  }

  /** One check and its verdict. Never rejects: a failure in here is logged. */
  #checkOne(backend: Backend): Promise<void> {
    const running = this.#verdict(backend).catch((err: unknown) => {
      this.#log.error({ err, backend: backend.id }, 'health check failed to run');
    });
    this.#running.add(running);
    void running.then(() => this.#running.delete(running));
    return running;
  }

  async #verdict(backend: Backend): Promise<void> {
    const h2 = backend.proto === 'h2' || backend.proto === 'h2c';
    let result: CheckResult;
    if (this.#options.type === 'grpc') {
      // The configuration refuses this; a backend added through the admin API may still be one.
      result = h2 ? await this.#grpcCheck(backend.origin, this.#options.timeout) : GRPC_NEEDS_H2;
    } else {
      result = await (h2 ? this.#h2Check : this.#check)(checkUrl(backend, this.#options.path), this.#options.timeout);
    }
    if (this.#stopped || this.#pool.get(backend.id) !== backend) return;
    if (backend.recordCheck(result.ok, this.#options.rise, this.#options.fall)) {
      this.#pool.setHealth(backend, result.ok, result.reason);
    } else if (!result.ok) {
      this.#log.debug({ backend: backend.id, reason: result.reason, streak: backend.hysteresis.streak }, 'health check failed');
    }
    // A warning follows each passing check at once: it lowers the share, it takes nothing down.
    if (result.ok) this.#pool.setWarning(backend, result.warning, this.#options.warnWeight ?? 1);
  }
}

const GRPC_NEEDS_H2: CheckResult = Object.freeze({ ok: false, reason: 'grpc health check of a backend not spoken to over HTTP/2 (proto h2c or h2 needed)' });

function checkUrl(backend: Backend, path: string | undefined): string {
  if (path !== undefined) return backend.origin + path;
  return backend.pathPrefix === '' ? `${backend.origin}/` : backend.url;
}
