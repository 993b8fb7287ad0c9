/**
 * The Generic Cell Rate Algorithm (ITU-T I.371; https://brandur.org/rate-limiting): one number
 * per key, its theoretical arrival time (TAT). A request at `now` is admitted when
 * `max(TAT, now) + interval - now <= burst × interval`, and moves TAT on by one interval.
 * Equivalent to a token bucket of `burst` tokens refilled at the rate, without a refill loop.
 *
 * Keys live in a Map used as a least-recently-used list (a hit is deleted and set again, so the
 * first key in iteration order is the least recently used): at most `size` keys, the oldest
 * evicted. An evicted key comes back as a new one, with its full burst.
 */
export class Gcra {
  /** Milliseconds per request (the emission interval T). */
  readonly interval: number;
  readonly burst: number;
  /** `burst × interval`: how far ahead of now a key's TAT may run. */
  readonly #tolerance: number;
  readonly #size: number;
  readonly #tats = new Map<string, number>();
  /** Keys evicted to stay within `size`, since start. */
  evicted = 0;

  constructor(count: number, period: number, burst: number, size: number) {
    this.interval = period / count;
    this.burst = burst;
    this.#tolerance = burst * this.interval;
    this.#size = size;
  }

  /**
   * Takes one request for `key` at `now` (ms). Returns how many more it could take at once
   * (≥ 0) when admitted, or, when refused, `-(ms until one is admitted)` (< 0; TAT unchanged).
   */
  take(key: string, now: number): number {
    const tats = this.#tats;
    const old = tats.get(key);
    const tat = old === undefined || old < now ? now : old;
    const next = tat + this.interval;
    const ahead = next - now;
    if (ahead > this.#tolerance) return -Math.max(ahead - this.#tolerance, Number.MIN_VALUE);
    if (old !== undefined) tats.delete(key);
    else if (tats.size >= this.#size) this.#evictOldest();
    tats.set(key, next);
    return Math.floor((this.#tolerance - ahead) / this.interval + 1e-9);
  }

  /** Milliseconds until `key` has its whole burst back (0: it has). */
  resetIn(key: string, now: number): number {
    const tat = this.#tats.get(key);
    return tat === undefined || tat <= now ? 0 : tat - now;
  }

  /** Keys kept now. */
  get size(): number {
    return this.#tats.size;
  }

  #evictOldest(): void {
    const oldest = this.#tats.keys().next();
    if (oldest.done !== true) this.#tats.delete(oldest.value);
    this.evicted++;
  }
}
