/** An entry of a DeadlineQueue: the queue links entries through these fields. */
export interface Deadline {
  /** When it expires, in performance.now() milliseconds. */
  deadline: number;
  prevDeadline: Deadline | undefined;
  nextDeadline: Deadline | undefined;
  /** Whether it is in a queue (entries leave once: on expiry or removal). */
  queued: boolean;
  expire(): void;
}

/**
 * Deadlines that all share one duration (PROXY_TIMEOUT), so they expire in the order they
 * were added: a linked list in that order, and one timer, armed for the head. Adding and
 * removing are a few pointer writes, with no timer object per request.
 */
export class DeadlineQueue {
  #head: Deadline | undefined = undefined;
  #tail: Deadline | undefined = undefined;
  #size = 0;
  #timer: NodeJS.Timeout | undefined = undefined;
  #expiring = false;
  readonly #fire = (): void => this.#expire();

  /** Adds an entry whose deadline is no earlier than any already queued. */
  add(entry: Deadline): void {
    entry.queued = true;
    this.#size++;
    entry.nextDeadline = undefined;
    entry.prevDeadline = this.#tail;
    if (this.#tail === undefined) this.#head = entry;
    else this.#tail.nextDeadline = entry;
    this.#tail = entry;
    if (this.#timer === undefined && !this.#expiring) this.#arm(entry.deadline);
  }

  /** Takes an entry out before it expires; entries not queued are ignored. */
  remove(entry: Deadline): void {
    if (!entry.queued) return;
    entry.queued = false;
    this.#size--;
    const { prevDeadline: prev, nextDeadline: next } = entry;
    if (prev === undefined) this.#head = next;
    else prev.nextDeadline = next;
    if (next === undefined) this.#tail = prev;
    else next.prevDeadline = prev;
    entry.prevDeadline = entry.nextDeadline = undefined;
    // The timer stays armed: when it fires early it re-arms for the new head.
  }

  #arm(at: number): void {
    this.#timer = setTimeout(this.#fire, Math.max(1, Math.ceil(at - performance.now())));
    this.#timer.unref();
  }

  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    this.#expiring = true;
    try {
      for (let entry = this.#head; entry !== undefined && entry.deadline <= now; entry = this.#head) {
        this.remove(entry);
        entry.expire();
      }
    } finally {
      this.#expiring = false;
      if (this.#head !== undefined) this.#arm(this.#head.deadline);
    }
  }

  /** Entries waiting. */
  get size(): number {
    return this.#size;
  }

  /** The entry added first (and so expiring first), if any. */
  get first(): Deadline | undefined {
    return this.#head;
  }
}
