import { hasRoom, type Backend, type Pool } from '../pool/index.js';
import type { Exclusion, PickRequest, Strategy } from './strategy.js';

/**
 * Hands the pool's snapshot to the strategy and applies the availability rule to its choice:
 * the snapshot holds the backends that may take traffic (enabled, healthy, not ejected), and a
 * chosen backend must also have room (not full) and not be excluded. A backend warming up (slow
 * start) is admitted with the probability of its `weightFactor`, whatever the strategy. When a
 * choice fails, the strategy is asked again without it; a custom strategy that ignores
 * `exclude` is covered too. A backend refused only for warming up is taken when nothing else is.
 */
export class Director {
  readonly #pool: Pool;
  readonly #random: () => number;
  /** Replaceable, for strategies loaded at start-up (and later, live changes). */
  strategy: Strategy;

  constructor(pool: Pool, strategy: Strategy, random: () => number = Math.random) {
    this.#pool = pool;
    this.strategy = strategy;
    this.#random = random;
  }

  get pool(): Pool {
    return this.#pool;
  }

  /** The one backend that may take traffic, when there is exactly one. */
  get sole(): Backend | undefined {
    const snapshot = this.#pool.available;
    return snapshot.length === 1 ? snapshot[0] : undefined;
  }

  /** Whether any backend may take traffic, full or not (so a request may wait for one). */
  get routable(): boolean {
    return this.#pool.available.length > 0;
  }

  /** The backend for this request, or undefined when none is available (or all are excluded or full). */
  pick(request: PickRequest, exclude?: Exclusion): Backend | undefined {
    const snapshot = this.#pool.available;
    if (snapshot.length === 0) return undefined;
    const chosen = this.strategy.pick(snapshot, request, exclude);
    if (chosen === undefined) return undefined;
    if (hasRoom(chosen) && (exclude === undefined || !exclude.has(chosen)) && (chosen.weightFactor === 1 || this.#random() < chosen.weightFactor)) {
      return chosen;
    }
    return this.#pickAgain(request, exclude, chosen);
  }

  /** The rare path: the first choice was full, excluded or warming up. Allocates the exclusion it grows. */
  #pickAgain(request: PickRequest, exclude: Exclusion | undefined, refused: Backend): Backend | undefined {
    const snapshot = this.#pool.available;
    const skip = new Set<Backend>();
    for (const backend of snapshot) if (exclude?.has(backend) === true) skip.add(backend);
    let warming = this.#onlyWarming(refused, exclude) ? refused : undefined;
    skip.add(refused);
    for (let attempt = 0; attempt < snapshot.length && skip.size < snapshot.length; attempt++) {
      const chosen = this.strategy.pick(snapshot, request, skip);
      if (chosen === undefined) break;
      if (!skip.has(chosen) && hasRoom(chosen)) {
        if (chosen.weightFactor === 1 || this.#random() < chosen.weightFactor) return chosen;
        warming ??= chosen;
      }
      skip.add(chosen);
    }
    return snapshot.find((backend) => !skip.has(backend) && hasRoom(backend)) ?? warming;
  }

  /** True when `backend` was refused only because it is warming up. */
  #onlyWarming(backend: Backend, exclude: Exclusion | undefined): boolean {
    return backend.weightFactor < 1 && hasRoom(backend) && (exclude === undefined || !exclude.has(backend));
  }
}
