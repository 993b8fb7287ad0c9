/**
 * Where the admin side's background tasks (canaries, the sampler) read the time and what wakes
 * them. The real one reads a system clock and runs an unref'd interval timer; a test passes its
 * own, so that each tick comes when the test says and no test waits for a second to pass.
 */
export interface Clock {
  now(): number;
  /** Calls `tick` every `ms` until the function returned is called. */
  every(tick: () => Promise<void>, ms: number): () => void;
}

/** The real clock, reading `now` (`performance.now` for intervals, `Date.now` for timestamps). */
export function realClock(now: () => number): Clock {
  return {
    now,
    every(tick, ms) {
      const timer = setInterval(() => void tick(), ms);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
