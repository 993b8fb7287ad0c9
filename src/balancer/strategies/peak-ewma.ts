import { latencyClock, type Backend, type Snapshot } from '../../pool/index.js';
import type { Exclusion, Strategy, StrategyOptions } from '../strategy.js';
import { bestOfTwoAllowed, twoDistinct } from './power-of-two-choices.js';

/** Cost of a backend with requests in flight but no latency sample yet (Finagle's Penalty). */
const PENALTY = 1e9;

/**
 * Latency-aware: Finagle's and Linkerd's peak-EWMA. Each backend's cost is its peak-EWMA
 * response time (kept by the proxy, see `Backend.observeLatency`; it jumps up on a slow
 * response and decays with τ = 10 s) times (in-flight + 1); the cheaper of two random
 * backends wins. A slow backend is avoided within a few responses; one that recovers wins
 * traffic back as its estimate decays.
 */
export class PeakEwma implements Strategy {
  readonly name = 'peak-ewma';
  readonly #random: () => number;
  readonly #now: (() => number) | undefined;
  readonly #pair = new Int32Array(2);

  constructor(options: StrategyOptions = {}) {
    this.#random = options.random ?? Math.random;
    // By default, the time of the latest response: advancing with traffic, free to read.
    this.#now = options.now;
  }

  pick(snapshot: Snapshot, _request?: unknown, exclude?: Exclusion): Backend | undefined {
    const now = this.#now === undefined ? latencyClock[0]! : this.#now();
    if (exclude !== undefined) return bestOfTwoAllowed(snapshot, exclude, this.#random, this.#pair, cheaper, now);
    if (snapshot.length < 2) return snapshot[0];
    twoDistinct(snapshot.length, this.#random, this.#pair);
    const a = snapshot[this.#pair[0]!]!;
    const b = snapshot[this.#pair[1]!]!;
    return cost(b, now) < cost(a, now) ? b : a;
  }
}

/** True when `b` costs less than `a` now. */
function cheaper(a: Backend, b: Backend, now: number): boolean {
  return cost(b, now) < cost(a, now);
}

function cost(backend: Backend, now: number): number {
  const latency = backend.latencyAt(now);
  if (latency === 0 && backend.inFlight > 0) return PENALTY + backend.inFlight;
  return (latency * (backend.inFlight + 1)) / backend.effectiveWeight;
}
