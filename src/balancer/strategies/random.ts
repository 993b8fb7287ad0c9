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

/** Uniform random choice: stateless, no coordination, even on average. */
export class RandomChoice implements Strategy {
  readonly name = 'random';
  readonly #random: () => number;

  constructor(options: StrategyOptions = {}) {
    this.#random = options.random ?? Math.random;
  }

  pick(snapshot: Snapshot, _request?: unknown, exclude?: Exclusion): Backend | undefined {
    if (exclude === undefined) return snapshot[Math.floor(this.#random() * snapshot.length)];
    return allowedAt(snapshot, exclude, Math.floor(this.#random() * allowedCount(snapshot, exclude)));
  }
}
