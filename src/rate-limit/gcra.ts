/**
 * The Generic Cell Rate Algorithm (ITU-T I.371; https://brandur.org/rate-limiting): one number
 * per key, its theoretical arrival time (TAT). A request at `now` is admitted when
 * `max(TAT, now) + interval - now <= burst × interval`, and moves TAT on by one interval.
 * Equivalent to a token bucket of `burst` tokens refilled at the rate, without a refill loop.
 *
 * At most `size` keys are kept, the least recently admitted forgotten beyond. The keys' slots
 * live in typed arrays (TATs in a Float64Array, a doubly-linked recency list in two Int32Arrays,
 * doubled as keys come, up to `size`) and a Map finds a key's slot: a hit moves its slot to the front without touching the Map, an eviction
 * reuses the last slot. (A Map alone used as the list, deleting and setting a key again on each
 * hit and evicting its first key, costs O(deleted entries) per eviction in V8: its iteration
 * skips the holes the deletes left, measured at about 100 µs per decision under churn.)
 */
export class Gcra {
  /** Milliseconds per request (the emission interval T). */
  readonly interval: number;
  readonly burst: number;
  /** `burst × interval`: how far ahead of now a key's TAT may run. */
  readonly #tolerance: number;
  readonly #size: number;
  readonly #slots = new Map<string, number>();
  readonly #keys: string[];
  #tats: Float64Array;
  #prev: Int32Array;
  #next: Int32Array;
  /** The most and least recently admitted slots; -1 when empty. */
  #head = -1;
  #tail = -1;
  /** Keys evicted to stay within `size`, since start. */
  evicted = 0;

  constructor(count: number, period: number, burst: number, size: number) {
    this.interval = period / count;
    this.burst = burst;
    this.#tolerance = burst * this.interval;
    this.#size = size;
    // Grown as keys come (doubling), up to `size`: a limit with few keys stays small.
    const initial = Math.min(size, 1024);
    this.#keys = [];
    this.#tats = new Float64Array(initial);
    this.#prev = new Int32Array(initial);
    this.#next = new Int32Array(initial);
  }

  /**
   * Takes one request for `key` at `now` (ms). Returns how many more it could take at once
   * (≥ 0) when admitted, or, when refused, `-(ms until one is admitted)` (< 0; TAT unchanged).
   */
  take(key: string, now: number): number {
    let slot = this.#slots.get(key);
    const old = slot === undefined ? now : this.#tats[slot]!;
    const tat = old < now ? now : old;
    const next = tat + this.interval;
    const ahead = next - now;
    if (ahead > this.#tolerance) return -Math.max(ahead - this.#tolerance, Number.MIN_VALUE);
    if (slot === undefined) slot = this.#claim(key);
    else this.#toFront(slot);
    this.#tats[slot] = next;
    return Math.floor((this.#tolerance - ahead) / this.interval + 1e-9);
  }

  /** Milliseconds until `key` has its whole burst back (0: it has). */
  resetIn(key: string, now: number): number {
    const slot = this.#slots.get(key);
    const tat = slot === undefined ? now : this.#tats[slot]!;
    return tat <= now ? 0 : tat - now;
  }

  /** Keys kept now. */
  get size(): number {
    return this.#slots.size;
  }

  /** A slot for a new key at the front: a free one, or the least recently used one's. */
  #claim(key: string): number {
    const used = this.#slots.size;
    let slot: number;
    if (used < this.#size) {
      slot = used;
      if (slot >= this.#tats.length) this.#grow();
      this.#keys.push(key);
    } else {
      slot = this.#tail;
      this.#unlink(slot);
      this.#slots.delete(this.#keys[slot]!);
      this.#keys[slot] = key;
      this.evicted++;
    }
    this.#slots.set(key, slot);
    this.#linkFront(slot);
    return slot;
  }

  #grow(): void {
    const length = Math.min(this.#size, this.#tats.length * 2);
    const tats = new Float64Array(length);
    const prev = new Int32Array(length);
    const next = new Int32Array(length);
    tats.set(this.#tats);
    prev.set(this.#prev);
    next.set(this.#next);
    this.#tats = tats;
    this.#prev = prev;
    this.#next = next;
  }

  #toFront(slot: number): void {
    if (slot === this.#head) return;
    this.#unlink(slot);
    this.#linkFront(slot);
  }

  #unlink(slot: number): void {
    const prev = this.#prev;
    const next = this.#next;
    const p = prev[slot]!;
    const n = next[slot]!;
    if (p >= 0) next[p] = n;
    else this.#head = n;
    if (n >= 0) prev[n] = p;
    else this.#tail = p;
  }

  #linkFront(slot: number): void {
    const prev = this.#prev;
    const next = this.#next;
    prev[slot] = -1;
    next[slot] = this.#head;
    if (this.#head >= 0) prev[this.#head] = slot;
    this.#head = slot;
    if (this.#tail < 0) this.#tail = slot;
  }
}
