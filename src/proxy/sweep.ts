/** Something the sweep looks at on each of its ticks. */
export interface Sweepable {
  /** `elapsed`: milliseconds since the previous tick (the sweep's interval). */
  sweep(elapsed: number): void;
  /** Whether it is in a sweep; the sweep links its entries through the two fields below. */
  swept: boolean;
  prevSwept: Sweepable | undefined;
  nextSwept: Sweepable | undefined;
}

/**
 * Coarse timeouts without a timer per request or per read (as node:http's
 * `connectionsCheckingInterval` does for its own): entries are looked at every `interval` ms
 * and keep their own tally of time without progress. Only entries that are waiting on
 * something (a request body, a slow client, a response body) are in it, and the timer runs
 * only while there are entries. The entries are a list linked through themselves: adding and
 * removing one, which most requests do once, is a few pointer writes.
 */
export class Sweep {
  readonly interval: number;
  #head: Sweepable | undefined = undefined;
  #tail: Sweepable | undefined = undefined;
  #size = 0;
  /** The entry a tick visits next: moved on when that entry leaves during the tick. */
  #cursor: Sweepable | undefined = undefined;
  #timer: NodeJS.Timeout | undefined = undefined;
  #ticking = false;
  readonly #tick = (): void => {
    this.#ticking = true;
    try {
      for (let entry = this.#head; entry !== undefined; entry = this.#cursor) {
        this.#cursor = entry.nextSwept;
        entry.sweep(this.interval);
      }
    } finally {
      this.#ticking = false;
      this.#cursor = undefined;
    }
    if (this.#size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  };

  /** Ticks every `interval` ms: a quarter of the shortest timeout it enforces is a good choice. */
  constructor(interval: number) {
    this.interval = interval;
  }

  /** Adds an entry (at the end: a tick under way reaches it); one already in is left as it is. */
  add(entry: Sweepable): void {
    if (entry.swept) return;
    entry.swept = true;
    const tail = this.#tail;
    entry.prevSwept = tail;
    entry.nextSwept = undefined;
    if (tail === undefined) this.#head = entry;
    else tail.nextSwept = entry;
    this.#tail = entry;
    if (this.#ticking && this.#cursor === undefined) this.#cursor = entry;
    this.#size++;
    if (this.#timer === undefined) {
      this.#timer = setInterval(this.#tick, this.interval);
      this.#timer.unref();
    }
  }

  delete(entry: Sweepable): void {
    if (!entry.swept) return;
    entry.swept = false;
    const { prevSwept: prev, nextSwept: next } = entry;
    if (prev === undefined) this.#head = next;
    else prev.nextSwept = next;
    if (next === undefined) this.#tail = prev;
    else next.prevSwept = prev;
    if (this.#cursor === entry) this.#cursor = next;
    entry.prevSwept = entry.nextSwept = undefined;
    this.#size--;
  }

  get size(): number {
    return this.#size;
  }
}

/** The tick for timeouts given in ms (0: off): a quarter of the shortest, from 50 ms to 1 s. */
export function sweepInterval(...timeouts: number[]): number {
  const shortest = Math.min(...timeouts.filter((t) => t > 0));
  return Number.isFinite(shortest) ? Math.min(1000, Math.max(50, Math.floor(shortest / 4))) : 1000;
}
