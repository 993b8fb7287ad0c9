import type { Backend, Snapshot } from '../../pool/index.js';
import type { Exclusion, Strategy, StrategyOptions } from '../strategy.js';

/**
 * The `k`-th backend of the snapshot that is not excluded, or undefined. Exclusions are rare
 * (retries), so a scan is fine.
 */
export function allowedAt(snapshot: Snapshot, exclude: Exclusion, k: number): Backend | undefined {
  for (const backend of snapshot) {
    if (exclude.has(backend)) continue;
    if (k-- === 0) return backend;
  }
  return undefined;
}

/** How many backends of the snapshot are not excluded. */
export function allowedCount(snapshot: Snapshot, exclude: Exclusion): number {
  let n = 0;
  for (const backend of snapshot) if (!exclude.has(backend)) n++;
  return n;
}

/**
 * Random choice: stateless, no coordination, even on average. When the snapshot's weights
 * differ, a backend is chosen with probability weight ÷ total, by a binary search over
 * cumulative weights built once per snapshot, so a pick still allocates nothing.
 */
export class RandomChoice implements Strategy {
  readonly name = 'random';
  readonly #random: () => number;
  #snapshot: Snapshot | undefined;
  /** Cumulative weights of the snapshot; undefined while every weight is the same. */
  #cumulative: Float64Array | undefined;

  constructor(options: StrategyOptions = {}) {
    this.#random = options.random ?? Math.random;
  }

  pick(snapshot: Snapshot, _request?: unknown, exclude?: Exclusion): Backend | undefined {
    if (snapshot !== this.#snapshot) this.#rebuild(snapshot);
    const cumulative = this.#cumulative;
    if (cumulative === undefined) {
      if (exclude === undefined) return snapshot[Math.floor(this.#random() * snapshot.length)];
      return allowedAt(snapshot, exclude, Math.floor(this.#random() * allowedCount(snapshot, exclude)));
    }
    if (exclude === undefined) {
      const r = this.#random() * cumulative[cumulative.length - 1]!;
      let lo = 0;
      let hi = cumulative.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cumulative[mid]! > r) hi = mid;
        else lo = mid + 1;
      }
      return snapshot[lo];
    }
    // A retry: the weights of the backends not excluded, scanned (exclusions are rare).
    let total = 0;
    for (const backend of snapshot) if (!exclude.has(backend)) total += backend.effectiveWeight;
    let r = this.#random() * total;
    for (const backend of snapshot) {
      if (exclude.has(backend)) continue;
      r -= backend.effectiveWeight;
      if (r < 0) return backend;
    }
    return undefined;
  }

  #rebuild(snapshot: Snapshot): void {
    this.#snapshot = snapshot;
    const uniform = snapshot.every((b) => b.effectiveWeight === snapshot[0]!.effectiveWeight);
    if (uniform) { this.#cumulative = undefined; return; }
    const cumulative = new Float64Array(snapshot.length);
    let sum = 0;
    for (let i = 0; i < snapshot.length; i++) cumulative[i] = sum += snapshot[i]!.effectiveWeight;
    this.#cumulative = cumulative;
  }
}
