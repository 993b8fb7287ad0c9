import type { Backend, Snapshot } from '../../pool/index.js';
import type { Strategy, StrategyOptions } from '../strategy.js';

/** Two distinct random indexes into a snapshot of `n` ≥ 2 entries, written into `out`. */
export function twoDistinct(n: number, random: () => number, out: Int32Array): void {
  const i = Math.floor(random() * n);
  let j = Math.floor(random() * (n - 1));
  if (j >= i) j++;
  out[0] = i;
  out[1] = j;
}

/**
 * The power of two random choices (Mitzenmacher, 2001): pick two backends at random and send
 * the request to the less loaded (in-flight / weight). Nearly as good as least-connections,
 * without its herd behaviour when many balancers share a pool.
 */
export class PowerOfTwoChoices implements Strategy {
  readonly name = 'power-of-two-choices';
  readonly #random: () => number;
  readonly #pair = new Int32Array(2);

  constructor(options: StrategyOptions = {}) {
    this.#random = options.random ?? Math.random;
  }

  pick(healthy: Snapshot): Backend | undefined {
    if (healthy.length < 2) return healthy[0];
    twoDistinct(healthy.length, this.#random, this.#pair);
    const a = healthy[this.#pair[0]!]!;
    const b = healthy[this.#pair[1]!]!;
    return b.inFlight * a.weight < a.inFlight * b.weight ? b : a;
  }
}
