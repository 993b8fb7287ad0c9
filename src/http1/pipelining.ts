/**
 * Pipelined requests of one connection being answered at once; those beyond wait for one of
 * them to end before they run. HAProxy, nginx and Envoy answer pipelined requests one at a
 * time; a few at once keep pipelining's gain while bounding what one connection can make the
 * balancer hold (an attempt, a backend connection and its read buffer each).
 */
export const MAX_PIPELINED = 8;

/** One connection's requests running, and those waiting for their turn (node:http's listener). */
export class PipelineGate<T> {
  #running = 0;
  readonly #waiting: T[] = [];

  /** Whether `item` runs now; if not, it waits (see `ended`). */
  admit(item: T): boolean {
    if (this.#running < MAX_PIPELINED) {
      this.#running++;
      return true;
    }
    this.#waiting.push(item);
    return false;
  }

  /** A running request ended: the next waiting one, which now counts as running, if any. */
  ended(): T | undefined {
    const next = this.#waiting.shift();
    if (next === undefined) this.#running--;
    return next;
  }

  /** A waiting request went away (its connection closed): true when it was waiting. */
  drop(item: T): boolean {
    const at = this.#waiting.indexOf(item);
    if (at < 0) return false;
    this.#waiting.splice(at, 1);
    return true;
  }
}
