/**
 * A small map whose entries expire after `ttl` ms, holding at most `size` of them: when full,
 * the oldest entry goes (a Map iterates in insertion order, so that is its first key).
 */
export class TtlCache<V> {
  readonly #entries = new Map<string, { readonly value: V; readonly until: number }>();
  readonly #size: number;
  readonly #ttl: number;
  readonly #now: () => number;

  constructor(size: number, ttl: number, now: () => number = Date.now) {
    this.#size = size;
    this.#ttl = ttl;
    this.#now = now;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, ttl = this.#ttl): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.#size) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { value, until: this.#now() + ttl });
  }

  get size(): number {
    return this.#entries.size;
  }
}
