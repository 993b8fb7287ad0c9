import type { Logger } from 'pino';
import type { Backend, Pool } from '../pool/index.js';

export interface OutlierOptions {
  /** Consecutive gateway failures that eject a backend; 0 turns detection off. */
  readonly consecutiveFailures: number;
  /** Base ejection time in ms, multiplied by the number of times the backend has been ejected. */
  readonly ejectionTime: number;
  /** Most of the pool ejected at once, as a share. */
  readonly maxEjected: number;
}

/** An ejection lasts at most this many times the base time (5 min with the default 30 s). */
const MAX_MULTIPLIER = 10;

/**
 * Passive health checks (Envoy's outlier detection, consecutive gateway failures): the proxy
 * reports each request's outcome; a backend whose last `consecutiveFailures` requests all failed
 * at the gateway level (could not connect, reset, timed out, answered 502/503/504) is taken out of
 * rotation for `ejectionTime` × the number of times it has been ejected, and returns, by itself,
 * when that time is up, or sooner when the active checks see it go down and come back up. Never more than `maxEjected` of the pool is out at once, so a failure of
 * everything (or of the network) cannot empty the pool. Each ejection and return is logged once.
 */
export class OutlierDetector {
  readonly #pool: Pool;
  readonly #options: OutlierOptions;
  readonly #log: Logger;
  readonly #timers = new Map<Backend, NodeJS.Timeout>();

  constructor(pool: Pool, options: OutlierOptions, log: Logger) {
    this.#pool = pool;
    this.#options = options;
    this.#log = log;
    pool.on('change', ({ kind, backend }) => {
      if (kind === 'removed') this.#forget(backend);
    });
    // A backend the active checks saw down and now see up again has been restarted or repaired:
    // its passive record is out of date (Envoy unejects on any passing check; that would undo the
    // ejection of a backend whose /health passes while its answers fail, so only a flip counts).
    pool.on('health', ({ backend, healthy }) => {
      if (!healthy) return;
      backend.resetFailures();
      if (backend.ejected) this.#return(backend, 'active check passed after down');
    });
  }

  /** A gateway failure of a request to `backend`. */
  failure(backend: Backend, reason: string): void {
    const run = backend.countFailure();
    const threshold = this.#options.consecutiveFailures;
    if (threshold === 0 || run < threshold || backend.ejected) return;
    const ejected = this.#pool.backends.reduce((n, b) => n + (b.ejected ? 1 : 0), 0);
    if (ejected + 1 > Math.floor(this.#pool.backends.length * this.#options.maxEjected)) {
      this.#log.debug({ backend: backend.id, failures: backend.failures, ejected }, 'not ejected: OUTLIER_MAX_EJECTED of the pool is out already');
      return;
    }
    const ms = this.#options.ejectionTime * Math.min(backend.countEjection(), MAX_MULTIPLIER);
    this.#pool.setEjected(backend, true, `${backend.failures} gateway failures in a row (the last: ${reason}); out for ${seconds(ms)}`);
    this.#log.warn({ backend: backend.id, url: backend.url, failures: backend.failures, reason, ejections: backend.ejections, forMs: ms }, 'backend ejected');
    const timer = setTimeout(() => this.#return(backend, 'ejection time is up'), ms);
    timer.unref();
    this.#timers.set(backend, timer);
  }

  /** A request `backend` answered (not 502-504): its run of gateway failures ends. */
  success(backend: Backend): void {
    backend.resetFailures();
  }

  /** Stops the timers; ejected backends stay as they are. */
  stop(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  #return(backend: Backend, reason: string): void {
    clearTimeout(this.#timers.get(backend));
    this.#timers.delete(backend);
    backend.resetFailures();
    if (this.#pool.setEjected(backend, false, reason)) this.#log.info({ backend: backend.id, url: backend.url, reason }, 'backend returned');
  }

  #forget(backend: Backend): void {
    clearTimeout(this.#timers.get(backend));
    this.#timers.delete(backend);
  }
}

/** `30 s`, `1.5 s`, `5 min`: an ejection time as the timeline shows it. */
function seconds(ms: number): string {
  return ms >= 120_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 100) / 10} s`;
}
