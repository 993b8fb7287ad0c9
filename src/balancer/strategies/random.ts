import type { Backend, Snapshot } from '../../pool/index.js';
import type { Strategy, StrategyOptions } from '../strategy.js';

/** Uniform random choice: stateless, no coordination, even on average. */
export class RandomChoice implements Strategy {
  readonly name = 'random';
  readonly #random: () => number;

  constructor(options: StrategyOptions = {}) {
    this.#random = options.random ?? Math.random;
  }

  pick(healthy: Snapshot): Backend | undefined {
    return healthy[Math.floor(this.#random() * healthy.length)];
  }
}
