import { EventEmitter } from 'node:events';
import { Backend } from './backend.js';

/** A frozen array of the backends that may take traffic. Replaced, never mutated. */
export type Snapshot = readonly Backend[];

export interface HealthChange {
  readonly backend: Backend;
  readonly healthy: boolean;
  readonly reason: string | undefined;
}

export interface PoolEvents {
  /** A backend flipped between healthy and unhealthy. */
  health: [HealthChange];
  /** The healthy snapshot was replaced. */
  snapshot: [Snapshot];
}

/**
 * Owns the backends and publishes the healthy snapshot. A change builds a new frozen array and
 * swaps one reference, so a reader (the director, a strategy) never locks, copies or allocates.
 */
export class Pool extends EventEmitter<PoolEvents> {
  readonly #backends: readonly Backend[];
  #healthy: Snapshot = Object.freeze([]);

  constructor(backends: readonly { url: string; weight: number }[]) {
    super();
    this.#backends = Object.freeze(backends.map((spec, i) => new Backend(spec.url, spec.weight, i)));
  }

  /** Every configured backend, healthy or not, in configured order. */
  get backends(): readonly Backend[] {
    return this.#backends;
  }

  /** The current healthy snapshot, in configured order. */
  get healthy(): Snapshot {
    return this.#healthy;
  }

  /** The availability predicate that decides snapshot membership. */
  static available(backend: Backend): boolean {
    return backend.healthy;
  }

  /**
   * Records a health verdict. Returns true only when the backend flipped (the first verdict
   * counts as one); only a flip rebuilds the snapshot and emits `health`.
   */
  setHealth(backend: Backend, healthy: boolean, reason?: string): boolean {
    backend.healthReason = healthy ? undefined : reason;
    if (backend.healthy === healthy && backend.checked) return false;
    backend.healthy = healthy;
    backend.checked = true;
    this.#publish();
    this.emit('health', { backend, healthy, reason });
    return true;
  }

  #publish(): void {
    this.#healthy = Object.freeze(this.#backends.filter(Pool.available));
    this.emit('snapshot', this.#healthy);
  }
}
