import type { Backend, Snapshot } from '../../pool/index.js';
import type { Exclusion, Strategy, StrategyOptions } from '../strategy.js';

/**
 * Smooth weighted round robin, nginx's algorithm (ngx_http_upstream_get_peer): each pick adds
 * every backend's weight to its current score, takes the highest score and subtracts the total
 * from it. Weights 5,1,1 give a,a,b,a,c,a,a: interleaved, not in bursts. The score table is
 * rebuilt when the snapshot changes; a pick is one pass over it and allocates nothing. Excluded
 * backends sit the pick out, as nginx skips the peers a request has tried. Workers start their
 * schedule `offset` picks in, so that they do not all send their first requests to one backend.
 */
export class WeightedRoundRobin implements Strategy {
  readonly name = 'weighted-round-robin';
  readonly #offset: number;
  #snapshot: Snapshot | undefined;
  #current: Float64Array = new Float64Array(0);

  constructor(options: StrategyOptions = {}) {
    this.#offset = Math.max(0, Math.trunc(options.offset ?? 0));
  }

  pick(snapshot: Snapshot, _request?: unknown, exclude?: Exclusion): Backend | undefined {
    if (snapshot !== this.#snapshot) this.#rebuild(snapshot);
    return this.#step(snapshot, exclude);
  }

  #step(snapshot: Snapshot, exclude: Exclusion | undefined): Backend | undefined {
    const current = this.#current;
    let best = -1;
    let bestScore = -Infinity;
    let total = 0;
    for (let i = 0; i < snapshot.length; i++) {
      const backend = snapshot[i]!;
      if (exclude !== undefined && exclude.has(backend)) continue;
      const weight = backend.effectiveWeight;
      total += weight;
      const score = current[i]! + weight;
      current[i] = score;
      if (score > bestScore) { bestScore = score; best = i; }
    }
    if (best < 0) return undefined;
    current[best]! -= total;
    return snapshot[best];
  }

  #rebuild(snapshot: Snapshot): void {
    this.#snapshot = snapshot;
    this.#current = new Float64Array(snapshot.length);
    let total = 0;
    for (const backend of snapshot) total += backend.effectiveWeight;
    const skip = total > 0 ? this.#offset % total : 0;
    for (let i = 0; i < skip; i++) this.#step(snapshot, undefined);
  }
}
