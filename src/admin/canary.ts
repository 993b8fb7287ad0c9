import type { Logger } from 'pino';
import { ROW, STATUS_CLASSES, type Counts } from '../metrics/index.js';
import type { Backend, Pool } from '../pool/index.js';
import { realClock, type Clock } from './clock.js';
import type { EventLog } from './events.js';
import { percentile } from './sampler.js';

/** A guarded change: the backend starts at `share` of the traffic and ramps up to its full share over `duration`. */
export interface CanarySpec {
  /** Share of all traffic at the start, 0 to 1. */
  readonly share: number;
  /** ms. */
  readonly duration: number;
}

/** When a canary is rolled back: worse than the rest of the pool by these, once it has enough requests. */
export const CANARY_BOUNDS = Object.freeze({
  /** Error rate above this many times the pool's … */
  errorRatio: 2,
  /** … and above this share. */
  errorFloor: 0.01,
  /** p99 above this many times the pool's (and at least `latencyFloorMs` more). */
  latencyRatio: 2,
  latencyFloorMs: 20,
  /** Requests the canary must have served before its error rate is judged. */
  minRequests: 20,
  /**
   * Requests each side must have served before the p99s are compared: below 100 samples a p99
   * is the maximum, and one pause of the process (a collection, a busy core) would decide it.
   */
  latencyMinRequests: 100,
});

/** What undoing the change means: removing an added backend, or its previous weight back. */
type Undo = { readonly kind: 'remove' } | { readonly kind: 'weight'; readonly weight: number };

interface Canary {
  readonly backend: Backend;
  readonly spec: CanarySpec;
  readonly undo: Undo;
  readonly started: number;
  readonly baseline: ReadonlyMap<string, ArrayLike<number>>;
  /** The last quarter of the ramp announced. */
  quarter: number;
  outcome: 'running' | 'promoted' | 'rolled back';
  reason?: string;
  figures?: Figures;
}

interface Figures {
  readonly canary: { requests: number; errorRate: number; p99Ms: number };
  readonly pool: { requests: number; errorRate: number; p99Ms: number };
}

const TICK_MS = 1000;

/**
 * Canaries: backends added or re-weighted through the admin API with `"canary": { share,
 * duration }`. Each takes `share` of the traffic at first, ramping to its full share over the
 * duration (through the director's admission, so every strategy honours it), while its error
 * rate and p99 are compared each second with the rest of the pool's over the same window. Worse
 * than CANARY_BOUNDS: the change is undone at once (the backend removed, or its weight put back)
 * and an event says why, with the figures; otherwise it is promoted at the end.
 */
export class Canaries {
  readonly #pool: Pool;
  readonly #counts: () => Promise<Counts>;
  readonly #events: EventLog;
  readonly #log: Logger;
  readonly #changed: () => void;
  readonly #running = new Map<string, Canary>();
  /** The latest outcome per backend id, for the API. */
  readonly #ended = new Map<string, Canary>();
  /** `performance.now()` and a 1 s timer, unless a test passes its own. */
  readonly #clock: Clock;
  #stopTicking: (() => void) | undefined;
  #ticking = false;

  constructor(pool: Pool, counts: () => Promise<Counts>, events: EventLog, log: Logger, changed: () => void, clock: Clock = realClock(() => performance.now())) {
    this.#clock = clock;
    this.#pool = pool;
    this.#counts = counts;
    this.#events = events;
    this.#log = log;
    this.#changed = changed;
  }

  /** Starts watching `backend` (just added, or just re-weighted from `undo.weight`). */
  async start(backend: Backend, spec: CanarySpec, undo: Undo): Promise<void> {
    const baseline = new Map((await this.#counts()).rows.map(([id, row]) => [id, Array.from(row)]));
    const canary: Canary = { backend, spec, undo, started: this.#clock.now(), baseline, quarter: 0, outcome: 'running' };
    this.#running.set(backend.id, canary);
    this.#ended.delete(backend.id);
    this.#ramp(canary, 0);
    this.#events.add({ kind: 'canary', backend: backend.id, message: `canary started: ${percent(spec.share)} of traffic, full share in ${Math.round(spec.duration / 1000)} s` });
    this.#log.info({ backend: backend.id, share: spec.share, duration: spec.duration }, 'canary started');
    this.#stopTicking ??= this.#clock.every(() => this.#tick(), TICK_MS);
  }

  /** Running and ended canaries, for `GET /api/canaries`. */
  list(): object[] {
    const now = this.#clock.now();
    return [...this.#running.values(), ...this.#ended.values()].map((c) => ({
      backend: c.backend.id, outcome: c.outcome, share: c.spec.share, durationMs: c.spec.duration,
      progress: c.outcome === 'running' ? Math.min(1, (now - c.started) / c.spec.duration) : 1,
      factor: c.backend.canaryFactor, reason: c.reason, figures: c.figures,
    }));
  }

  stop(): void {
    this.#stopTicking?.();
    this.#stopTicking = undefined;
  }

  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      const counts = await this.#counts();
      for (const canary of [...this.#running.values()]) this.#judge(canary, counts);
    } catch (err) {
      this.#log.error({ err }, 'canary evaluation failed');
    } finally {
      this.#ticking = false;
      if (this.#running.size === 0) this.stop();
    }
  }

  #judge(canary: Canary, counts: Counts): void {
    const { backend, spec } = canary;
    if (this.#pool.get(backend.id) !== backend) {
      this.#end(canary, 'rolled back', 'the backend left the pool');
      return;
    }
    const progress = Math.min(1, (this.#clock.now() - canary.started) / spec.duration);
    const figures = this.#figures(canary, counts);
    canary.figures = figures;
    const c = figures.canary;
    const p = figures.pool;
    const b = CANARY_BOUNDS;
    if (c.requests >= b.minRequests) {
      if (c.errorRate > b.errorFloor && c.errorRate > b.errorRatio * p.errorRate) {
        this.#rollback(canary, `error rate ${percent(c.errorRate)} against the pool's ${percent(p.errorRate)} (${c.requests} requests)`);
        return;
      }
      if (c.requests >= b.latencyMinRequests && p.requests >= b.latencyMinRequests && c.p99Ms > b.latencyRatio * p.p99Ms && c.p99Ms > p.p99Ms + b.latencyFloorMs) {
        this.#rollback(canary, `p99 ${c.p99Ms} ms against the pool's ${p.p99Ms} ms (${c.requests} requests)`);
        return;
      }
    }
    if (progress >= 1) {
      this.#pool.setCanary(backend, 1);
      this.#end(canary, 'promoted', `${c.requests} requests, error rate ${percent(c.errorRate)} (pool ${percent(p.errorRate)}), p99 ${c.p99Ms} ms (pool ${p.p99Ms} ms)`);
      return;
    }
    this.#ramp(canary, progress);
    const quarter = Math.floor(progress * 4);
    if (quarter > canary.quarter) {
      canary.quarter = quarter;
      this.#events.add({ kind: 'canary', backend: backend.id, message: `canary ${quarter * 25}% through: ${c.requests} requests, error rate ${percent(c.errorRate)} (pool ${percent(p.errorRate)}), p99 ${c.p99Ms} ms (pool ${p.p99Ms} ms)` });
    }
  }

  /** The factor that gives the backend `share` of all traffic, rising linearly to its full share. */
  #ramp(canary: Canary, progress: number): void {
    const available = this.#pool.available;
    const total = available.reduce((sum, b) => sum + b.weight, 0);
    const natural = total === 0 ? 1 : canary.backend.weight / (available.includes(canary.backend) ? total : total + canary.backend.weight);
    const start = Math.min(1, canary.spec.share / natural);
    this.#pool.setCanary(canary.backend, Math.min(1, start + (1 - start) * progress));
  }

  #rollback(canary: Canary, why: string): void {
    const { backend, undo } = canary;
    this.#pool.setCanary(backend, 1);
    if (undo.kind === 'remove') void this.#pool.remove(backend.id).then(() => this.#changed(), () => undefined);
    else this.#pool.setWeight(backend.id, undo.weight);
    this.#changed();
    this.#end(canary, 'rolled back', why);
  }

  #end(canary: Canary, outcome: 'promoted' | 'rolled back', why: string): void {
    canary.outcome = outcome;
    canary.reason = why;
    this.#running.delete(canary.backend.id);
    this.#ended.set(canary.backend.id, canary);
    const undone = canary.undo.kind === 'remove' ? 'removed' : `weight back to ${canary.undo.weight}`;
    const message = outcome === 'promoted' ? `canary promoted: ${why}` : `canary rolled back (${undone}): ${why}`;
    this.#events.add({ kind: 'canary', backend: canary.backend.id, message });
    if (outcome === 'promoted') this.#log.info({ backend: canary.backend.id, figures: canary.figures }, message);
    else this.#log.warn({ backend: canary.backend.id, figures: canary.figures }, message);
  }

  /** The canary's and the rest of the pool's requests, error rates and p99 since the canary started. */
  #figures(canary: Canary, counts: Counts): Figures {
    const canaryRow = new Float64Array(ROW.length);
    const poolRow = new Float64Array(ROW.length);
    for (const [id, row] of counts.rows) {
      if (id === '') continue;
      const into = id === canary.backend.id ? canaryRow : this.#pool.get(id) === undefined ? undefined : poolRow;
      if (into === undefined) continue;
      const before = canary.baseline.get(id);
      for (let i = 0; i < ROW.length; i++) into[i]! += row[i]! - (before?.[i] ?? 0);
    }
    return { canary: summary(canaryRow), pool: summary(poolRow) };
  }
}

function summary(row: Float64Array): { requests: number; errorRate: number; p99Ms: number } {
  let requests = 0;
  for (let i = 0; i < STATUS_CLASSES.length; i++) requests += row[ROW.status + i]!;
  const fivexx = row[ROW.status + 4]!;
  const failures = row[ROW.failures]!;
  // A failure that was retried shows in no status: count the tries, not only the answers.
  const errors = Math.max(fivexx, failures);
  const tries = requests + Math.max(0, failures - fivexx);
  return { requests, errorRate: tries === 0 ? 0 : Math.round((errors / tries) * 10_000) / 10_000, p99Ms: percentile(row, 0.99) };
}

function percent(share: number): string {
  return `${Math.round(share * 1000) / 10}%`;
}
