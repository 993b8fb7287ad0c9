/**
 * A manual Clock for the admin side's tests: a `.test.ts` file so that the build keeps it out of
 * the package, with no tests of its own so that importing it runs none (they are in clock.test.ts).
 */
import type { Clock } from './clock.js';

/** A clock that moves only when told, running the ticks that fall due on the way (awaiting each). */
export class ManualClock implements Clock {
  time: number;
  readonly #timers = new Set<{ tick: () => Promise<void>; ms: number; due: number }>();

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  every(tick: () => Promise<void>, ms: number): () => void {
    const timer = { tick, ms, due: this.time + ms };
    this.#timers.add(timer);
    return () => this.#timers.delete(timer);
  }

  /** Whether any timer is running. */
  get ticking(): boolean {
    return this.#timers.size > 0;
  }

  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (let guard = 0; guard < 100_000; guard++) {
      let next: { tick: () => Promise<void>; ms: number; due: number } | undefined;
      for (const timer of this.#timers) if (timer.due <= end && (next === undefined || timer.due < next.due)) next = timer;
      if (next === undefined) break;
      this.time = next.due;
      next.due += next.ms;
      await next.tick();
    }
    this.time = end;
  }
}
