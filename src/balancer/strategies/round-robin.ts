import type { Backend, Snapshot } from '../../pool/index.js';
import type { Strategy, StrategyOptions } from '../strategy.js';

/**
 * Round robin over the healthy snapshot: the origin's `atomic.Add(&counter, 1) - 1` modulo the
 * length. JavaScript runs a pick to completion, so a plain counter is already race-free.
 */
export class RoundRobin implements Strategy {
  readonly name = 'round-robin';
  #next: number;

  constructor(options: StrategyOptions = {}) {
    this.#next = Math.max(0, Math.trunc(options.offset ?? 0));
  }

  pick(healthy: Snapshot): Backend | undefined {
    const n = this.#next;
    // Wrap well before 2^53 so the modulo stays exact.
    this.#next = n >= 0x3fffffff ? 0 : n + 1;
    return healthy[n % healthy.length];
  }
}
