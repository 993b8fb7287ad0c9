import type { Backend, Pool } from '../pool/index.js';

/** Where the ramp starts: a warming backend is never given nothing (it must be seen to work). */
export const SLOW_START_FLOOR = 0.05;

/**
 * Slow start (HAProxy's `slowstart`, Envoy's slow start): a backend that comes up, or back from
 * ejection, takes a share of traffic that ramps linearly from 5% to all of its share over the
 * window, through its `weightFactor` (which the director applies to every strategy). Backends
 * found up by the first checks at start-up are not ramped: nothing is warmer than before.
 */
export class SlowStart {
  readonly #window: number;
  readonly #now: () => number;
  readonly #ramping = new Map<Backend, number>();
  #timer: NodeJS.Timeout | undefined = undefined;
  #armed = false;
  readonly #tick = (): void => this.update();

  constructor(pool: Pool, windowMs: number, now: () => number = () => performance.now()) {
    this.#window = windowMs;
    this.#now = now;
    pool.on('health', ({ backend, healthy }) => { if (healthy) this.#begin(backend); });
    pool.on('change', ({ kind, backend }) => {
      if (kind === 'returned') this.#begin(backend);
      else if (kind === 'removed') this.#ramping.delete(backend);
    });
  }

  /** From now on, backends that come up are ramped (call it once the start-up checks are done). */
  arm(): void {
    this.#armed = true;
  }

  stop(): void {
    this.#armed = false;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Brings every ramping backend's factor up to date (the timer's work; tests call it). */
  update(): void {
    const now = this.#now();
    for (const [backend, since] of this.#ramping) {
      const progress = (now - since) / this.#window;
      if (progress >= 1) {
        backend.setSlowStart(1);
        this.#ramping.delete(backend);
      } else {
        backend.setSlowStart(Math.max(SLOW_START_FLOOR, progress));
      }
    }
    if (this.#ramping.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #begin(backend: Backend): void {
    if (!this.#armed || this.#window <= 0) return;
    this.#ramping.set(backend, this.#now());
    backend.setSlowStart(SLOW_START_FLOOR);
    if (this.#timer === undefined) {
      this.#timer = setInterval(this.#tick, Math.min(1000, Math.max(20, this.#window / 50)));
      this.#timer.unref();
    }
  }
}
