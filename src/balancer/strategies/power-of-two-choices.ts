import type { Backend, Snapshot } from '../../pool/index.js';
import type { Exclusion, Strategy, StrategyOptions } from '../strategy.js';
import { allowedAt, allowedCount } from './random.js';

/** Two distinct random indexes into a snapshot of `n` ≥ 2 entries, written into `out`. */
export function twoDistinct(n: number, random: () => number, out: Int32Array): void {
  const i = Math.floor(random() * n);
  let j = Math.floor(random() * (n - 1));
  if (j >= i) j++;
  out[0] = i;
  out[1] = j;
}

/**
 * Two distinct random backends that are not excluded, compared by `better(a, b, now)` (true
 * when `b` is the better one); the winner, or the only one allowed, or undefined. For
 * strategies that sample two: the path taken when a retry excludes some. (`now` is passed
 * through rather than captured, so that callers make no closure per pick.)
 */
export function bestOfTwoAllowed(snapshot: Snapshot, exclude: Exclusion, random: () => number, pair: Int32Array,
  better: (a: Backend, b: Backend, now: number) => boolean, now = 0): Backend | undefined {
  const n = allowedCount(snapshot, exclude);
  if (n < 2) return allowedAt(snapshot, exclude, 0);
  twoDistinct(n, random, pair);
  const a = allowedAt(snapshot, exclude, pair[0]!)!;
  const b = allowedAt(snapshot, exclude, pair[1]!)!;
  return better(a, b, now) ? b : a;
}

const lessLoaded = (a: Backend, b: Backend): boolean => b.inFlight * a.effectiveWeight < a.inFlight * b.effectiveWeight;

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

  pick(snapshot: Snapshot, _request?: unknown, exclude?: Exclusion): Backend | undefined {
    if (exclude !== undefined) return bestOfTwoAllowed(snapshot, exclude, this.#random, this.#pair, lessLoaded);
    if (snapshot.length < 2) return snapshot[0];
    twoDistinct(snapshot.length, this.#random, this.#pair);
    const a = snapshot[this.#pair[0]!]!;
    const b = snapshot[this.#pair[1]!]!;
    return lessLoaded(a, b) ? b : a;
  }
}
