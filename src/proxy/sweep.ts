/** Something the sweep looks at on each of its ticks. */
export interface Sweepable {
  /** `elapsed`: milliseconds since the previous tick (the sweep's interval). */
  sweep(elapsed: number): void;
}

/**
 * Coarse timeouts without a timer per request or per read (as node:http's
 * `connectionsCheckingInterval` does for its own): entries are looked at every `interval` ms
 * and keep their own tally of time without progress. Only entries that are waiting on
 * something (a request body, a slow client) are in it, and the timer runs only while there
 * are entries.
 */
export class Sweep {
  readonly interval: number;
  readonly #entries = new Set<Sweepable>();
  #timer: NodeJS.Timeout | undefined = undefined;
  readonly #tick = (): void => {
    for (const entry of this.#entries) entry.sweep(this.interval);
    if (this.#entries.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  };

  /** Ticks every `interval` ms: a quarter of the shortest timeout it enforces is a good choice. */
  constructor(interval: number) {
    this.interval = interval;
  }

  add(entry: Sweepable): void {
    this.#entries.add(entry);
    if (this.#timer === undefined) {
      this.#timer = setInterval(this.#tick, this.interval);
      this.#timer.unref();
    }
  }

  delete(entry: Sweepable): void {
    this.#entries.delete(entry);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** The tick for timeouts given in ms (0: off): a quarter of the shortest, from 50 ms to 1 s. */
export function sweepInterval(...timeouts: number[]): number {
  const shortest = Math.min(...timeouts.filter((t) => t > 0));
  return Number.isFinite(shortest) ? Math.min(1000, Math.max(50, Math.floor(shortest / 4))) : 1000;
}
