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
 * Deadlines that share one duration (PROXY_TIMEOUT), so they expire in the order they were
 * added: a linked list in deadline order, and one timer, armed for the head. Adding and
 * removing are a few pointer writes, with no timer object per request.
 */
export class DeadlineQueue {
  #head: Deadline | undefined = undefined;
  #tail: Deadline | undefined = undefined;
  #size = 0;
  #timer: NodeJS.Timeout | undefined = undefined;
  #expiring = false;
  readonly #fire = (): void => this.#expire();

  /**
   * Adds an entry. Deadlines come in order while the duration stays the same, so this is a few
   * pointer writes at the tail; after the duration is shortened (a reload), an entry is walked
   * back past the later deadlines of entries added before it.
   */
  add(entry: Deadline): void {
    entry.queued = true;
    this.#size++;
    let after = this.#tail;
    while (after !== undefined && after.deadline > entry.deadline) after = after.prevDeadline;
    const before = after === undefined ? this.#head : after.nextDeadline;
    entry.prevDeadline = after;
    entry.nextDeadline = before;
    if (after === undefined) this.#head = entry;
    else after.nextDeadline = entry;
    if (before === undefined) this.#tail = entry;
    else before.prevDeadline = entry;
    if (this.#expiring) return;
    if (this.#timer === undefined) {
      this.#arm(entry.deadline);
    } else if (this.#head === entry && before !== undefined) {
      // A new first deadline, earlier than the one the timer is armed for.
      clearTimeout(this.#timer);
      this.#arm(entry.deadline);
    }
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
