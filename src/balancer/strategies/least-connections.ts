import type { Backend, Snapshot } from '../../pool/index.js';
import type { Strategy, StrategyOptions } from '../strategy.js';

/**
 * Fewest requests in flight relative to weight (in-flight / weight, compared by cross
 * multiplication). The scan starts one place further each pick, so ties rotate instead of
 * always landing on the first backend.
 */
export class LeastConnections implements Strategy {
  readonly name = 'least-connections';
  #start: number;

  constructor(options: StrategyOptions = {}) {
    this.#start = Math.max(0, Math.trunc(options.offset ?? 0));
  }

  pick(healthy: Snapshot): Backend | undefined {
    const n = healthy.length;
    if (n === 0) return undefined;
    const start = this.#start % n;
    this.#start = start + 1;
    let best = healthy[start]!;
    for (let k = 1; k < n; k++) {
      const b = healthy[(start + k) % n]!;
      if (b.inFlight * best.weight < best.inFlight * b.weight) best = b;
    }
    return best;
  }
}
