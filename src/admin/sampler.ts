import { DURATION_BUCKETS, refusalKey, refusalLabels, ROW, type Counts, type ProcessCounts } from '../metrics/index.js';
import type { Pool } from '../pool/index.js';
import { realClock, type Clock } from './clock.js';

/** One backend over one sampled second. */
export interface BackendSample {
  readonly id: string;
  /** Its admin state when not enabled (`draining`, `maintenance`), else its health (`up`, `down`, `ejected`). */
  readonly state: string;
  readonly weight: number;
  /** Slow start: the share of its traffic it takes now, 0 to 1. */
  readonly warm: number;
  readonly inFlight: number;
  /** Requests per second it answered, and the share of them that were 5xx. */
  readonly rps: number;
  readonly errorRate: number;
  /** Latency percentiles over the second, in ms (0 without requests), and their buckets' bounds. */
  readonly p50: number;
  readonly p99: number;
  readonly p50Le: number | null;
  readonly p99Le: number | null;
}

/** Requests one edge policy refused on one route: since start-up, and over the sampled second. */
export interface RefusalSample {
  /** `access-list`, `rate-limit`, `basic-auth`, `forward-auth`, `jwt`; `rate-limit (shadow)` for what a shadow-mode limit would have refused. */
  readonly policy: string;
  /** The route ('' for requests no route matched, or without routes). */
  readonly route: string;
  readonly total: number;
  readonly perSecond: number;
}

/** The whole balancer over one sampled second. */
export interface Sample {
  /** Milliseconds since the epoch, at the end of the second. */
  readonly time: number;
  readonly rps: number;
  readonly errorRate: number;
  readonly p50: number;
  readonly p99: number;
  /**
   * The upper bounds, in ms, of the histogram buckets that hold p50 and p99 (null past the last
   * bound): all the histogram really knows; p50 and p99 are estimates within them.
   */
  readonly p50Le: number | null;
  readonly p99Le: number | null;
  /** Responses per second by status class, 1xx to 5xx. */
  readonly classes: readonly number[];
  readonly connections: number;
  readonly queued: number;
  readonly retries: number;
  readonly backends: readonly BackendSample[];
  /** Edge policies' refusals by policy and route, once any was (empty before). */
  readonly refusals: readonly RefusalSample[];
}

/** A second with at least this many retries, and this share of the requests, is a retry spike. */
const RETRY_SPIKE_FLOOR = 5;
const RETRY_SPIKE_SHARE = 0.05;

export interface SamplerHooks {
  /** A second with many retries (at most once every 10 s): the dashboard's timeline marks it. */
  readonly spike?: (retries: number, rps: number) => void;
  /** Sampling failed (told once). */
  readonly error?: (err: Error) => void;
}

/** Samples kept: 15 minutes, one a second (the dashboard's longest window). */
export const SAMPLES_KEPT = 900;

/**
 * Once a second, while something watches, turns the request tally into rates and percentiles
 * (from the histogram buckets' growth over the second) and keeps the last 15 minutes in a ring,
 * so that a dashboard opened late still shows the recent past. It costs nothing per request:
 * it reads the counters the metrics read.
 */
export class Sampler {
  readonly #pool: Pool;
  readonly #counts: () => Promise<Counts>;
  readonly #ring: (Sample | undefined)[] = new Array<Sample | undefined>(SAMPLES_KEPT);
  #next = 0;
  #size = 0;
  #previous = new Map<string, Float64Array>();
  #previousRetries = 0;
  /** Refusal totals at the previous sample, by `policy\nroute`. */
  #previousRefusals = new Map<string, number>();
  #previousTime = 0;
  #stopTicking: (() => void) | undefined;
  readonly #listeners = new Set<(sample: Sample) => void>();
  #busy = false;

  readonly #hooks: SamplerHooks;
  /** `Date.now()` (samples carry wall-clock times) and a 1 s timer, unless a test passes its own. */
  readonly #clock: Clock;
  #lastSpike = 0;
  /** Seconds that could not be sampled (a worker that did not answer, say). */
  failures = 0;

  constructor(pool: Pool, counts: () => Promise<Counts>, hooks: SamplerHooks = {}, clock: Clock = realClock(Date.now)) {
    this.#clock = clock;
    this.#pool = pool;
    this.#counts = counts;
    this.#hooks = hooks;
  }

  /** Starts sampling (once a second). */
  start(): void {
    if (this.#stopTicking !== undefined) return;
    void this.#sample();
    this.#stopTicking = this.#clock.every(() => this.#sample(), 1000);
  }

  stop(): void {
    this.#stopTicking?.();
    this.#stopTicking = undefined;
  }

  /** The kept samples, oldest first. */
  history(): Sample[] {
    const out: Sample[] = [];
    for (let i = this.#size; i > 0; i--) out.push(this.#ring[(this.#next - i + SAMPLES_KEPT) % SAMPLES_KEPT]!);
    return out;
  }

  /** Calls `listener` with each new sample; returns the function that stops it. */
  subscribe(listener: (sample: Sample) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #sample(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const counts = await this.#counts();
      const now = this.#clock.now();
      const seconds = this.#previousTime === 0 ? 1 : Math.max(0.001, (now - this.#previousTime) / 1000);
      const first = this.#previousTime === 0;
      this.#previousTime = now;
      const current = new Map<string, Float64Array>();
      for (const [id, row] of counts.rows) current.set(id, Float64Array.from(row as ArrayLike<number>));
      if (first) {
        // The counts so far are the baseline: rates start with the next second.
        this.#previous = current;
        this.#previousRetries = counts.process.retries;
        this.#previousRefusals = refusalTotals(counts.process);
        return;
      }
      const total = new Float64Array(ROW.length);
      const backends: BackendSample[] = [];
      const delta = (id: string): Float64Array => {
        const now = current.get(id);
        const before = this.#previous.get(id);
        const d = new Float64Array(ROW.length);
        if (now === undefined || first) return d;
        for (let i = 0; i < ROW.length; i++) d[i] = now[i]! - (before?.[i] ?? 0);
        return d;
      };
      for (const id of current.keys()) {
        const d = delta(id);
        for (let i = 0; i < ROW.length; i++) total[i]! += d[i]!;
      }
      for (const backend of this.#pool.backends) {
        const d = delta(backend.id);
        const answered = d[0]! + d[1]! + d[2]! + d[3]! + d[4]!;
        backends.push({
          id: backend.id, state: backend.state, weight: backend.weight, warm: round(backend.weightFactor), inFlight: Math.max(0, backend.inFlight),
          rps: round(answered / seconds), errorRate: answered === 0 ? 0 : round(d[4]! / answered),
          p50: percentile(d, 0.5), p99: percentile(d, 0.99), p50Le: bucketBound(d, 0.5), p99Le: bucketBound(d, 0.99),
        });
      }
      this.#previous = current;
      const answered = total[0]! + total[1]! + total[2]! + total[3]! + total[4]!;
      const retries = first ? 0 : counts.process.retries - this.#previousRetries;
      this.#previousRetries = counts.process.retries;
      const sample: Sample = {
        time: now,
        rps: round(answered / seconds),
        errorRate: answered === 0 ? 0 : round(total[4]! / answered),
        p50: percentile(total, 0.5),
        p99: percentile(total, 0.99),
        p50Le: bucketBound(total, 0.5),
        p99Le: bucketBound(total, 0.99),
        classes: [0, 1, 2, 3, 4].map((c) => round(total[c]! / seconds)),
        connections: counts.process.connections,
        queued: counts.process.queued,
        retries: Math.max(0, retries),
        backends,
        refusals: this.#refusals(counts.process, seconds),
      };
      this.#ring[this.#next] = sample;
      this.#next = (this.#next + 1) % SAMPLES_KEPT;
      if (this.#size < SAMPLES_KEPT) this.#size++;
      if (this.#hooks.spike !== undefined && sample.retries >= Math.max(RETRY_SPIKE_FLOOR, sample.rps * RETRY_SPIKE_SHARE) && now - this.#lastSpike >= 10_000) {
        this.#lastSpike = now;
        this.#hooks.spike(sample.retries, sample.rps);
      }
      for (const listener of this.#listeners) listener(sample);
    } catch (err) {
      // The next second will do; the first failure of a run is told.
      if (this.failures++ === 0) this.#hooks.error?.(err as Error);
    } finally {
      this.#busy = false;
    }
  }

  /** The refusals of each policy on each route, with their growth over the second. */
  #refusals(counts: ProcessCounts, seconds: number): RefusalSample[] {
    const totals = refusalTotals(counts);
    const out: RefusalSample[] = [];
    for (const [key, total] of totals) {
      const { policy, route } = refusalLabels(key);
      const grown = Math.max(0, total - (this.#previousRefusals.get(key) ?? 0));
      out.push({ policy, route, total, perSecond: round(grown / seconds) });
    }
    this.#previousRefusals = totals;
    return out.sort((a, b) => a.policy.localeCompare(b.policy) || a.route.localeCompare(b.route));
  }
}

/** Refusals (and a shadow-mode rate limit's would-be refusals) since start-up, by `policy\nroute`. */
function refusalTotals(counts: ProcessCounts): Map<string, number> {
  const totals = new Map(Object.entries(counts.policyRefusals ?? {}));
  for (const [route, n] of Object.entries(counts.rateLimitShadow ?? {})) totals.set(refusalKey('rate-limit (shadow)', route), n);
  return totals;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/**
 * The `q` quantile of the durations counted in a tally row's buckets, in ms, interpolated
 * linearly within its bucket (as Prometheus's histogram_quantile does).
 */
export function percentile(row: ArrayLike<number>, q: number): number {
  let count = 0;
  for (let i = 0; i <= DURATION_BUCKETS.length; i++) count += row[ROW.buckets + i]!;
  if (count === 0) return 0;
  const rank = q * count;
  let seen = 0;
  for (let i = 0; i <= DURATION_BUCKETS.length; i++) {
    const n = row[ROW.buckets + i]!;
    if (seen + n >= rank && n > 0) {
      const lower = i === 0 ? 0 : DURATION_BUCKETS[i - 1]!;
      const upper = i < DURATION_BUCKETS.length ? DURATION_BUCKETS[i]! : DURATION_BUCKETS[DURATION_BUCKETS.length - 1]!;
      return round((lower + (upper - lower) * ((rank - seen) / n)) * 1000);
    }
    seen += n;
  }
  return round(DURATION_BUCKETS[DURATION_BUCKETS.length - 1]! * 1000);
}

/**
 * The upper bound, in ms, of the histogram bucket that holds the `q` quantile (as Prometheus's
 * `le` label says it); null past the last bound, 0 without requests. The quantile is somewhere
 * in that bucket: the dashboard shows "≤ bound" rather than an interpolated figure's digits.
 */
export function bucketBound(row: ArrayLike<number>, q: number): number | null {
  let count = 0;
  for (let i = 0; i <= DURATION_BUCKETS.length; i++) count += row[ROW.buckets + i]!;
  if (count === 0) return 0;
  const rank = q * count;
  let seen = 0;
  for (let i = 0; i < DURATION_BUCKETS.length; i++) {
    const n = row[ROW.buckets + i]!;
    if (seen + n >= rank && n > 0) return round(DURATION_BUCKETS[i]! * 1000);
    seen += n;
  }
  return null;
}
