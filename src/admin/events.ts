import type { Pool } from '../pool/index.js';

/** Something an operator wants to see on a timeline. */
export interface LbEvent {
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly kind: 'health' | 'ejected' | 'returned' | 'admin' | 'added' | 'removed' | 'weight' | 'warning' | 'canary' | 'reload' | 'worker' | 'retries' | 'error';
  readonly backend?: string;
  readonly message: string;
  /** An `error` event's request: its X-Request-Id, its trace id when it was traced, and what explains it. */
  readonly requestId?: string;
  readonly traceId?: string;
  readonly explain?: string;
}

/** The last `capacity` events, oldest first: a ring, so memory is bounded whatever happens. */
export class EventLog {
  readonly #ring: (LbEvent | undefined)[];
  #next = 0;
  #count = 0;
  readonly #listeners = new Set<(event: LbEvent) => void>();

  constructor(readonly capacity = 500) {
    this.#ring = new Array<LbEvent | undefined>(capacity);
  }

  add(event: Omit<LbEvent, 'time'> & { time?: number }): void {
    const stamped = { time: Date.now(), ...event };
    this.#ring[this.#next] = stamped;
    for (const listener of this.#listeners) listener(stamped);
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#count < this.capacity) this.#count++;
  }

  /** Calls `listener` with each new event; returns the function that stops it. */
  subscribe(listener: (event: LbEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The newest `limit` events, oldest first. */
  recent(limit = this.capacity): LbEvent[] {
    const n = Math.min(limit, this.#count);
    const out: LbEvent[] = [];
    for (let i = n; i > 0; i--) out.push(this.#ring[(this.#next - i + this.capacity) % this.capacity]!);
    return out;
  }

  /** Records a second with many retries. */
  retrySpike(retries: number, rps: number): void {
    this.add({ kind: 'retries', message: `${retries} retries in one second (${Math.round(rps)} requests/s)` });
  }

  /** Records the pool's health flips and changes (ejections included). */
  watch(pool: Pool): void {
    pool.on('health', ({ backend, healthy, reason }) => this.add({
      kind: 'health', backend: backend.id, message: healthy ? 'up' : `down: ${reason ?? 'check failed'}`,
    }));
    // A canary's ramp changes its share every second: the canary records its own milestones.
    pool.on('change', ({ kind, backend, reason }) => kind !== 'canary' && this.add({
      kind, backend: backend.id,
      message: kind === 'weight' ? `weight ${backend.weight}` : kind === 'admin' ? `state ${backend.state}`
        : kind === 'warning' ? (backend.warning === undefined ? 'no longer warns: full share' : `warns (${backend.warning}): ${Math.round(backend.healthFactor * 100)}% of its share`)
          : reason === undefined ? kind : `${kind}: ${reason}`,
    }));
  }
}
