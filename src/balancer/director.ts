import type { Backend, Pool } from '../pool/index.js';
import type { PickRequest, Strategy } from './strategy.js';

/** Hands the pool's current healthy snapshot to the strategy. */
export class Director {
  readonly #pool: Pool;
  /** Replaceable, for strategies loaded at start-up (and later, live changes). */
  strategy: Strategy;

  constructor(pool: Pool, strategy: Strategy) {
    this.#pool = pool;
    this.strategy = strategy;
  }

  /** The backend for this request, or undefined when no backend is healthy. */
  pick(request: PickRequest): Backend | undefined {
    const healthy = this.#pool.healthy;
    return healthy.length === 0 ? undefined : this.strategy.pick(healthy, request);
  }
}
