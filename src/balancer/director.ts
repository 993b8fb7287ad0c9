import { hasRoom, type Backend, type Pool } from '../pool/index.js';
import type { Exclusion, PickRequest, Strategy } from './strategy.js';

/**
 * Hands the pool's snapshot to the strategy and applies the availability rule to its choice:
 * the snapshot holds the backends that may take traffic (enabled, healthy, not ejected), and a
 * chosen backend must also have room (not full) and not be excluded. When it does not, the
 * strategy is asked again without it; a custom strategy that ignores `exclude` is covered too.
 */
export class Director {
  readonly #pool: Pool;
  /** Replaceable, for strategies loaded at start-up (and later, live changes). */
  strategy: Strategy;

  constructor(pool: Pool, strategy: Strategy) {
    this.#pool = pool;
    this.strategy = strategy;
  }

  /** The backend for this request, or undefined when none is available (or all are excluded). */
  pick(request: PickRequest, exclude?: Exclusion): Backend | undefined {
    const snapshot = this.#pool.available;
    if (snapshot.length === 0) return undefined;
    const chosen = this.strategy.pick(snapshot, request, exclude);
    if (chosen === undefined || (hasRoom(chosen) && (exclude === undefined || !exclude.has(chosen)))) return chosen;
    return this.#pickAgain(request, exclude, chosen);
  }

  /** The rare path: the first choice was full or excluded. Allocates the exclusion it grows. */
  #pickAgain(request: PickRequest, exclude: Exclusion | undefined, refused: Backend): Backend | undefined {
    const snapshot = this.#pool.available;
    const skip = new Set<Backend>();
    for (const backend of snapshot) if (exclude?.has(backend) === true) skip.add(backend);
    skip.add(refused);
    for (let attempt = 0; attempt < snapshot.length && skip.size < snapshot.length; attempt++) {
      const chosen = this.strategy.pick(snapshot, request, skip);
      if (chosen === undefined) return undefined;
      if (!skip.has(chosen) && hasRoom(chosen)) return chosen;
      skip.add(chosen);
    }
    return snapshot.find((backend) => !skip.has(backend) && hasRoom(backend));
  }
}
