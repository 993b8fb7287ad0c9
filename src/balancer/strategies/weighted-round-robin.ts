import type { Backend, Snapshot } from '../../pool/index.js';
import type { Strategy } from '../strategy.js';

/**
 * Smooth weighted round robin, nginx's algorithm (ngx_http_upstream_get_peer): each pick adds
 * every backend's weight to its current score, takes the highest score and subtracts the total
 * from it. Weights 5,1,1 give a,a,b,a,c,a,a: interleaved, not in bursts. The score table is
 * rebuilt when the snapshot changes; a pick is one pass over it and allocates nothing.
 */
export class WeightedRoundRobin implements Strategy {
  readonly name = 'weighted-round-robin';
  #snapshot: Snapshot | undefined;
  #current: Float64Array = new Float64Array(0);
  #total = 0;

  pick(healthy: Snapshot): Backend | undefined {
    if (healthy !== this.#snapshot) this.#rebuild(healthy);
    const current = this.#current;
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i < healthy.length; i++) {
      const score = current[i]! + healthy[i]!.weight;
      current[i] = score;
      if (score > bestScore) { bestScore = score; best = i; }
    }
    if (best < 0) return undefined;
    current[best]! -= this.#total;
    return healthy[best];
  }

  #rebuild(healthy: Snapshot): void {
    this.#snapshot = healthy;
    this.#current = new Float64Array(healthy.length);
    this.#total = healthy.reduce((sum, b) => sum + b.weight, 0);
  }
}
