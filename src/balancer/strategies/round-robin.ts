import type { Backend, Snapshot } from '../../pool/index.js';
import type { Exclusion, Strategy, StrategyOptions } from '../strategy.js';
import { WeightedRoundRobin } from './weighted-round-robin.js';

/**
 * Round robin over the snapshot: the origin's `atomic.Add(&counter, 1) - 1` modulo the length.
 * JavaScript runs a pick to completion, so a plain counter is already race-free. With
 * exclusions (a retry), the next backend in the rotation that is not excluded.
 *
 * When the backends' weights differ, the rotation is weighted (smooth weighted round robin),
 * as HAProxy's `roundrobin` is: a weight given in BACKENDS or through the admin API always
 * counts. Whether they differ is decided once per snapshot, so a pick stays allocation-free.
 */
export class RoundRobin implements Strategy {
  readonly name = 'round-robin';
  #next: number;
  readonly #weighted: WeightedRoundRobin;
  #snapshot: Snapshot | undefined;
  #uniform = true;

  constructor(options: StrategyOptions = {}) {
    this.#next = Math.max(0, Math.trunc(options.offset ?? 0));
    this.#weighted = new WeightedRoundRobin(options);
  }

  pick(snapshot: Snapshot, request?: unknown, exclude?: Exclusion): Backend | undefined {
    if (snapshot !== this.#snapshot) {
      this.#snapshot = snapshot;
      this.#uniform = uniformWeights(snapshot);
    }
    if (!this.#uniform) return this.#weighted.pick(snapshot, request, exclude);
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

/** True when every backend of the snapshot has the same weight (the plain rotation is then exact). */
function uniformWeights(snapshot: Snapshot): boolean {
  for (let i = 1; i < snapshot.length; i++) if (snapshot[i]!.effectiveWeight !== snapshot[0]!.effectiveWeight) return false;
  return true;
}
