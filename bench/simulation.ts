/**
 * A deterministic discrete-event simulation of a heterogeneous pool: a virtual clock, seeded
 * randomness, Poisson arrivals, and backends with a fixed number of workers and exponential
 * service times. Every strategy runs against the same arrival and service sequence, through the
 * same Pool/Backend/strategy code the proxy uses (in-flight counts, peak-EWMA latency).
 */
import { createStrategy, seededRandom, type PickRequest, type Strategy } from '../src/balancer/index.js';
import { Pool, type Backend } from '../src/pool/index.js';

export interface SimulationOptions {
  /** Mean service time per backend, ms. */
  readonly serviceMs: readonly number[];
  /** Concurrent workers per backend; more requests queue at the backend. */
  readonly workers: number;
  /** Offered load as a share of total capacity. */
  readonly utilisation: number;
  readonly requests: number;
  /** Distinct users (hash keys). */
  readonly users: number;
  readonly seed: number;
}

export const DEFAULT_SIMULATION: SimulationOptions = {
  serviceMs: [10, 10, 10, 10, 100],
  workers: 4,
  utilisation: 0.7,
  requests: 200_000,
  users: 10_000,
  seed: 42,
};

export interface SimulationResult {
  readonly strategy: string;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly mean: number;
  /** Share of requests per backend, 0..1. */
  readonly share: number[];
}

interface Job { arrival: number; backend: Backend; user: number }

/** A binary min-heap of events keyed by time. */
export class Events {
  readonly #times: number[] = [];
  readonly #items: (() => void)[] = [];
  get size(): number { return this.#times.length; }
  push(time: number, run: () => void): void {
    const t = this.#times; const it = this.#items;
    let i = t.length;
    t.push(time); it.push(run);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (t[p]! <= time) break;
      t[i] = t[p]!; it[i] = it[p]!; i = p;
    }
    t[i] = time; it[i] = run;
  }
  pop(): [number, () => void] {
    const t = this.#times; const it = this.#items;
    const top: [number, () => void] = [t[0]!, it[0]!];
    const lastT = t.pop()!; const lastI = it.pop()!;
    if (t.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1; const r = l + 1;
        let m = i; let mt = lastT;
        if (l < t.length && t[l]! < mt) { m = l; mt = t[l]!; }
        if (r < t.length && t[r]! < mt) { m = r; mt = t[r]!; }
        if (m === i) break;
        t[i] = t[m]!; it[i] = it[m]!; i = m;
      }
      t[i] = lastT; it[i] = lastI;
    }
    return top;
  }
}

export interface NamedStrategy {
  readonly label: string;
  /** Backend weights for this run (all 1 by default). */
  readonly weights?: readonly number[];
  readonly make: (random: () => number, now: () => number) => Strategy;
}

/** Every registered strategy, plus consistent hashing with a load bound. */
export const SIMULATED: readonly NamedStrategy[] = [
  ...['round-robin', 'weighted-round-robin', 'random', 'least-connections', 'power-of-two-choices', 'peak-ewma'].map((name) => ({
    label: name, make: (random: () => number, now: () => number) => createStrategy(name, { random, now }),
  })),
  { label: 'weighted-rr 10,10,10,10,1', weights: [10, 10, 10, 10, 1], make: (random, now) => createStrategy('weighted-round-robin', { random, now }) },
  { label: 'consistent-hash', make: (random, now) => createStrategy('consistent-hash', { random, now, hashKey: 'header:x-user' }) },
  { label: 'consistent-hash c=1.25', make: (random, now) => createStrategy('consistent-hash', { random, now, hashKey: 'header:x-user', loadFactor: 1.25 }) },
];

export function simulate(named: NamedStrategy, options: SimulationOptions = DEFAULT_SIMULATION): SimulationResult {
  const arrivalsRandom = seededRandom(options.seed);
  const serviceRandom = seededRandom(options.seed + 1);
  const strategyRandom = seededRandom(options.seed + 2);
  let now = 0;
  const strategy = named.make(strategyRandom, () => now);
  const pool = new Pool(options.serviceMs.map((_, i) => ({ url: `http://backend-${i + 1}:80`, weight: named.weights?.[i] ?? 1 })));
  for (const b of pool.backends) pool.setHealth(b, true);
  const capacityPerMs = options.serviceMs.reduce((sum, ms) => sum + options.workers / ms, 0);
  const meanGap = 1 / (capacityPerMs * options.utilisation);
  const queues = pool.backends.map(() => [] as Job[]);
  const busy = pool.backends.map(() => 0);
  const latencies = new Float64Array(options.requests);
  const counts = pool.backends.map(() => 0);
  const userHeaders = Array.from({ length: options.users }, (_, u) => ({ 'x-user': `user-${u}` }));
  const request = { method: 'GET', path: '/', headers: userHeaders[0]!, clientIp: '10.0.0.1' } as { -readonly [K in keyof PickRequest]: PickRequest[K] };
  let done = 0;
  const events = new Events();

  const position = new Map(pool.backends.map((b, i) => [b, i]));
  const startService = (job: Job): void => {
    const i = position.get(job.backend)!;
    busy[i]!++;
    const service = -Math.log(1 - serviceRandom()) * options.serviceMs[i]!;
    events.push(now + service, () => {
      busy[i]!--;
      const latency = now - job.arrival;
      latencies[done++] = latency;
      job.backend.endRequest();
      job.backend.observeLatency(latency, now);
      const next = queues[i]!.shift();
      if (next !== undefined) startService(next);
    });
  };

  let arrivals = 0;
  const arrive = (): void => {
    const user = Math.floor(arrivalsRandom() * options.users);
    request.headers = userHeaders[user]!;
    const backend = strategy.pick(pool.available, request)!;
    backend.startRequest();
    const i = position.get(backend)!;
    counts[i]!++;
    const job = { arrival: now, backend, user };
    if (busy[i]! < options.workers) startService(job);
    else queues[i]!.push(job);
    if (++arrivals < options.requests) events.push(now - Math.log(1 - arrivalsRandom()) * meanGap, arrive);
  };
  events.push(0, arrive);
  while (events.size > 0) {
    const [time, run] = events.pop();
    now = time;
    run();
  }
  const sorted = latencies.slice(0, done).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return {
    strategy: named.label,
    p50: at(0.5),
    p99: at(0.99),
    p999: at(0.999),
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    share: counts.map((c) => c / options.requests),
  };
}
