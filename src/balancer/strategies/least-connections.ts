import type { Backend, Snapshot } from '../../pool/index.js';
import type { Exclusion, Strategy, StrategyOptions } from '../strategy.js';

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

  pick(snapshot: Snapshot, _request?: unknown, exclude?: Exclusion): Backend | undefined {
    const n = snapshot.length;
    if (n === 0) return undefined;
    const start = this.#start % n;
    // A retry (or a second try by the director) does not move the rotation of first tries.
    if (exclude === undefined) this.#start = start + 1;
    let best: Backend | undefined;
    for (let k = 0; k < n; k++) {
      const b = snapshot[(start + k) % n]!;
      if (exclude !== undefined && exclude.has(b)) continue;
      if (best === undefined || b.inFlight * best.effectiveWeight < best.inFlight * b.effectiveWeight) best = b;
    }
    return best;
  }
}
