import type { Backend, Snapshot } from '../../pool/index.js';
import { hashKey, parseKeySource, type KeySource } from '../hash-key.js';
import { buildMaglevTable, MAGLEV_SIZE } from '../maglev.js';
import type { Exclusion, PickRequest, Strategy, StrategyOptions } from '../strategy.js';

/**
 * Consistent hashing with a Maglev table over a request key (client IP, a header, a cookie or
 * the path), so a key keeps landing on the same backend while the pool is stable and only the
 * keys of a removed backend move. With a load factor c > 1 it also bounds load (Mirrokni,
 * Thorup and Zadimoghaddam, "Consistent Hashing with Bounded Loads", SODA 2018): a backend
 * already holding more than c × the mean in-flight load is skipped, and the walk continues
 * along the table to the next backend under the bound. An excluded backend (a retry) is
 * skipped the same way, so a key's second choice is stable too. Requests without a key go to
 * the fallback strategy.
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

  /** For an explanation: the request's key hash and its Maglev slot (or that it has no key). */
  explain(request: PickRequest): Record<string, unknown> {
    const hash = hashKey(this.#source, request);
    return hash < 0 ? { hashKey: null, fallback: this.#fallback.name } : { hashKey: hash, slot: hash % MAGLEV_SIZE, boundedLoad: this.#loadFactor };
  }

  pick(snapshot: Snapshot, request: PickRequest, exclude?: Exclusion): Backend | undefined {
    if (snapshot.length === 0) return undefined;
    const hash = hashKey(this.#source, request);
    if (hash < 0) return this.#fallback.pick(snapshot, request, exclude);
    if (snapshot !== this.#snapshot) this.#rebuild(snapshot);
    let slot = hash % MAGLEV_SIZE;
    const first = snapshot[this.#table[slot]!]!;
    if (this.#loadFactor === 0 && (exclude === undefined || !exclude.has(first))) return first;
    let capacity = Infinity;
    if (this.#loadFactor > 0) {
      let total = 0;
      for (let i = 0; i < snapshot.length; i++) total += snapshot[i]!.inFlight;
      capacity = Math.ceil((this.#loadFactor * (total + 1)) / snapshot.length);
    }
    // Some backend is under the bound (the mean is below it); with exclusions, the walk is
    // bounded by the table, which holds every backend.
    for (let step = 0; step < MAGLEV_SIZE; step++) {
      const candidate = snapshot[this.#table[slot]!]!;
      if (candidate.inFlight + 1 <= capacity && (exclude === undefined || !exclude.has(candidate))) return candidate;
      slot = slot + 1 === MAGLEV_SIZE ? 0 : slot + 1;
    }
    return undefined;
  }

  #rebuild(snapshot: Snapshot): void {
    this.#snapshot = snapshot;
    // Built over the ids in sorted order, so that the table depends on the set of backends and
    // not on the order they joined: balancers that see the same pool (DNS, a shared config)
    // send a key to the same backend.
    const order = snapshot.map((_, i) => i).sort((a, b) => (snapshot[a]!.id < snapshot[b]!.id ? -1 : 1));
    const table = buildMaglevTable(order.map((i) => snapshot[i]!.id));
    for (let slot = 0; slot < table.length; slot++) if (table[slot]! >= 0) table[slot] = order[table[slot]!]!;
    this.#table = table;
  }
}
