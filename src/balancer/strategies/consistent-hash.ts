import type { Backend, Snapshot } from '../../pool/index.js';
import { hashKey, parseKeySource, type KeySource } from '../hash-key.js';
import { buildMaglevTable, MAGLEV_SIZE } from '../maglev.js';
import type { PickRequest, Strategy, StrategyOptions } from '../strategy.js';

/**
 * Consistent hashing with a Maglev table over a request key (client IP, a header, a cookie or
 * the path), so a key keeps landing on the same backend while the pool is stable and only the
 * keys of a removed backend move. With a load factor c > 1 it also bounds load (Mirrokni,
 * Thorup and Zadimoghaddam, "Consistent Hashing with Bounded Loads", SODA 2018): a backend
 * already holding more than c × the mean in-flight load is skipped, and the walk continues
 * along the table to the next backend under the bound. Requests without a key go to the
 * fallback strategy.
 */
export class ConsistentHash implements Strategy {
  readonly name = 'consistent-hash';
  readonly #source: KeySource;
  readonly #loadFactor: number;
  readonly #fallback: Strategy;
  #snapshot: Snapshot | undefined;
  #table: Int32Array = new Int32Array(0);

  constructor(options: StrategyOptions & { fallbackStrategy: Strategy }) {
    const source = parseKeySource(options.hashKey ?? 'ip');
    if (source === undefined) throw new Error(`invalid hash key "${options.hashKey}"`);
    this.#source = source;
    this.#loadFactor = options.loadFactor ?? 0;
    this.#fallback = options.fallbackStrategy;
  }

  pick(healthy: Snapshot, request: PickRequest): Backend | undefined {
    if (healthy.length === 0) return undefined;
    const hash = hashKey(this.#source, request);
    if (hash < 0) return this.#fallback.pick(healthy, request);
    if (healthy !== this.#snapshot) this.#rebuild(healthy);
    let slot = hash % MAGLEV_SIZE;
    const first = healthy[this.#table[slot]!]!;
    if (this.#loadFactor === 0) return first;
    let total = 0;
    for (let i = 0; i < healthy.length; i++) total += healthy[i]!.inFlight;
    const capacity = Math.ceil((this.#loadFactor * (total + 1)) / healthy.length);
    // Some backend is always under the bound (the mean is below it), so the walk ends.
    for (let candidate = first; ; candidate = healthy[this.#table[slot]!]!) {
      if (candidate.inFlight + 1 <= capacity) return candidate;
      slot = slot + 1 === MAGLEV_SIZE ? 0 : slot + 1;
    }
  }

  #rebuild(healthy: Snapshot): void {
    this.#snapshot = healthy;
    this.#table = buildMaglevTable(healthy.map((b) => b.url));
  }
}
