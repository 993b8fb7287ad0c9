import { Agent } from 'undici';
import type { Logger } from 'pino';
import { tlsConnectOptions, type Backend, type BackendTls, type HealthState, type Pool } from '../pool/index.js';
import { httpCheck, type CheckFn } from './check.js';

export interface HealthOptions {
  /** Path on each backend's origin; undefined checks the backend URL itself. */
  readonly path: string | undefined;
  readonly interval: number;
  readonly timeout: number;
  /** Consecutive passes that bring a down backend up. */
  readonly rise: number;
  /** Consecutive failures that take an up backend down. */
  readonly fall: number;
}

/**
 * The hysteresis transition (HAProxy's rise/fall): returns true only when the verdict flips.
 * The first result decides at once, so start-up does not wait `rise` rounds.
 */
export function transition(state: HealthState, passed: boolean, rise: number, fall: number): boolean {
  if (state.healthy === undefined) {
    state.healthy = passed;
    state.streak = 0;
    return true;
  }
  if (passed === state.healthy) {
    state.streak = 0;
    return false;
  }
  state.streak++;
  if (state.streak < (passed ? rise : fall)) return false;
  state.healthy = passed;
  state.streak = 0;
  return true;
}

/**
 * Active health checks: a round checks every backend concurrently, each bounded by the timeout;
 * the first round runs at start-up and the next starts `interval` after the previous ended, so
 * rounds never overlap. A backend added at runtime is checked at once, so it takes traffic as
 * soon as it has passed a check and not before. The hysteresis state lives on each backend.
 */
export class HealthMonitor {
  readonly #pool: Pool;
  readonly #options: HealthOptions;
  readonly #log: Logger;
  readonly #check: CheckFn;
  readonly #agent: Agent | undefined;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  /** Between start() and stop(). */
  #running = false;
  #stopped = false;

  constructor(pool: Pool, options: HealthOptions, log: Logger, check?: CheckFn,
    tls?: BackendTls) {
    this.#pool = pool;
    this.#options = options;
    this.#log = log;
    if (check === undefined) {
      this.#agent = new Agent({
        connections: 1,
        keepAliveTimeout: Math.max(options.interval * 2, 5000),
        connect: { timeout: options.timeout, ...tlsConnectOptions(tls) },
      });
      check = httpCheck(this.#agent);
    }
    this.#check = check;
    pool.on('change', ({ kind, backend }) => {
      if (kind !== 'added' || !this.#running) return;
      this.#checkOne(backend).catch((err: unknown) => this.#log.error({ err, backend: backend.id }, 'health check of a new backend failed'));
    });
  }

  /** Runs the first round (resolves when every backend has a verdict), then schedules the rest. */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#running = true;
    await this.runRound();
    this.#schedule();
  }

  /** Stops scheduling; a round in progress finishes but changes nothing after stop. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round;
    await this.#agent?.close().catch(() => undefined);
  }

  /** Checks every backend once, concurrently. Never rejects. */
  runRound(): Promise<void> {
    this.#round ??= Promise.all(this.#pool.backends.map((b) => this.#checkOne(b))).then(
      () => { this.#round = undefined; },
      (err: unknown) => {
        this.#round = undefined;
        this.#log.error({ err }, 'health-check round failed');
      },
    );
    return this.#round;
  }

  async #checkOne(backend: Backend): Promise<void> {
    const result = await this.#check(checkUrl(backend, this.#options.path), this.#options.timeout);
    if (this.#stopped || this.#pool.get(backend.id) !== backend) return;
    const state = backend.hysteresis;
    if (transition(state, result.ok, this.#options.rise, this.#options.fall)) {
      this.#pool.setHealth(backend, result.ok, result.reason);
    } else if (!result.ok) {
      this.#log.debug({ backend: backend.url, reason: result.reason, streak: state.streak }, 'health check failed');
    }
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.runRound().then(() => this.#schedule(), () => this.#schedule());
    }, this.#options.interval);
  }
}

function checkUrl(backend: Backend, path: string | undefined): string {
  if (path !== undefined) return backend.origin + path;
  return backend.pathPrefix === '' ? `${backend.origin}/` : backend.url;
}
