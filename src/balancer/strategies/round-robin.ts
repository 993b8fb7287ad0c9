import type { Backend, Snapshot } from '../../pool/index.js';
import type { Exclusion, Strategy, StrategyOptions } from '../strategy.js';

/**
 * Round robin over the snapshot: the origin's `atomic.Add(&counter, 1) - 1` modulo the length.
 * JavaScript runs a pick to completion, so a plain counter is already race-free. With
 * exclusions (a retry), the next backend in the rotation that is not excluded.
 */
export class RoundRobin implements Strategy {
  readonly name = 'round-robin';
  #next: number;

  constructor(options: StrategyOptions = {}) {
    this.#next = Math.max(0, Math.trunc(options.offset ?? 0));
  }

  pick(snapshot: Snapshot, _request?: unknown, exclude?: Exclusion): Backend | undefined {
    const n = this.#next;
    const length = snapshot.length;
    if (exclude === undefined) {
      // Wrap well before 2^53 so the modulo stays exact.
      this.#next = n >= 0x3fffffff ? 0 : n + 1;
      return snapshot[n % length];
    }
    // A retry takes the next backend in the rotation without moving it: the rotation stays
    // even for first tries, and a failing backend is not skipped by everyone after it.
    for (let k = 0; k < length; k++) {
      const backend = snapshot[(n + k) % length]!;
      if (!exclude.has(backend)) return backend;
    }
    return undefined;
  }
}
