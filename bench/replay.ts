/**
 * Replays a real access log (the balancer's own JSON lines) through the strategies in the
 * deterministic simulator: the arrivals are the logged ones (time minus duration), each backend
 * serves with the concurrency it was seen to have and the service times it was seen to take,
 * and the keys are the logged client addresses or paths.
 */
import { readFileSync } from 'node:fs';
import { createStrategy, seededRandom, type PickRequest, type Strategy } from '../src/balancer/index.js';
import { Pool, type Backend } from '../src/pool/index.js';
import { Events } from './simulation.js';

export interface LoggedRequest {
  /** Arrival, ms since the first logged arrival. */
  readonly arrival: number;
  readonly ms: number;
  readonly backend: string;
  readonly client: string;
  readonly path: string;
}

export interface Trace {
  readonly requests: readonly LoggedRequest[];
  /** Backend ids, in order of first appearance. */
  readonly backends: readonly string[];
  /** The most requests each backend had in flight at once in the log: its concurrency in the replay. */
  readonly concurrency: ReadonlyMap<string, number>;
}

export interface ReplayResult {
  readonly strategy: string;
  readonly p50: number;
  readonly p99: number;
  /** The most requests waiting at one backend for a free worker. */
  readonly maxQueue: number;
  /** Share of requests per backend (in `Trace.backends` order), 0..1. */
  readonly share: number[];
}

/** Reads the access lines (`"msg":"request"` with a backend) of a JSON log; other lines are skipped. */
export function readTrace(path: string): Trace {
  const raw: { end: number; ms: number; backend: string; client: string; path: string }[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.includes('"msg":"request"')) continue;
    let entry: { time?: unknown; ms?: unknown; backend?: unknown; client?: unknown; path?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if (typeof entry.time !== 'number' || typeof entry.ms !== 'number' || typeof entry.backend !== 'string') continue;
    raw.push({ end: entry.time, ms: entry.ms, backend: entry.backend, client: String(entry.client ?? ''), path: String(entry.path ?? '/') });
  }
  if (raw.length === 0) throw new Error(`${path}: no access lines with a backend (JSON lines with "msg":"request")`);
  const start = Math.min(...raw.map((r) => r.end - r.ms));
  const requests = raw.map((r) => ({ arrival: r.end - r.ms - start, ms: r.ms, backend: r.backend, client: r.client, path: r.path }))
    .sort((a, b) => a.arrival - b.arrival);
  const backends = [...new Set(requests.map((r) => r.backend))];
  // Each backend's most requests in flight at once, from the logged intervals.
  const concurrency = new Map<string, number>();
  for (const id of backends) {
    const edges = requests.filter((r) => r.backend === id).flatMap((r) => [[r.arrival, 1], [r.arrival + r.ms, -1]] as const)
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let now = 0;
    let most = 1;
    for (const [, delta] of edges) most = Math.max(most, (now += delta));
    concurrency.set(id, most);
  }
  return { requests, backends, concurrency };
}

interface Job { arrival: number; backend: Backend; request: LoggedRequest }

/**
 * One strategy over the trace. A request sent where it went in the log takes the time it took
 * there; sent elsewhere, it takes a time drawn from that backend's logged ones (seeded).
 */
export function replay(trace: Trace, name: string, key: 'ip' | 'path' = 'ip', seed = 42): ReplayResult {
  const random = seededRandom(seed);
  const draw = seededRandom(seed + 1);
  let now = 0;
  const strategy: Strategy = createStrategy(name, { random, now: () => now, hashKey: key });
  const pool = new Pool(trace.backends.map((id, i) => ({ url: `http://backend-${i + 1}:80`, id })));
  for (const b of pool.backends) pool.setHealth(b, true);
  const index = new Map(pool.backends.map((b, i) => [b, i]));
  const times = trace.backends.map((id) => trace.requests.filter((r) => r.backend === id).map((r) => r.ms));
  const workers = trace.backends.map((id) => trace.concurrency.get(id) ?? 1);
  const busy = trace.backends.map(() => 0);
  const queues = trace.backends.map(() => [] as Job[]);
  const counts = trace.backends.map(() => 0);
  const latencies: number[] = [];
  let maxQueue = 0;
  const events = new Events();
  const serve = (job: Job): void => {
    const i = index.get(job.backend)!;
    busy[i]!++;
    const own = trace.backends[i] === job.request.backend;
    const service = own ? job.request.ms : times[i]![Math.floor(draw() * times[i]!.length)]!;
    events.push(now + service, () => {
      busy[i]!--;
      const latency = now - job.arrival;
      latencies.push(latency);
      job.backend.endRequest();
      job.backend.observeLatency(latency, now);
      const next = queues[i]!.shift();
      if (next !== undefined) serve(next);
    });
  };
  for (const request of trace.requests) {
    events.push(request.arrival, () => {
      const pick: PickRequest = { method: 'GET', path: request.path, headers: {}, clientIp: request.client };
      const backend = strategy.pick(pool.available, pick)!;
      backend.startRequest();
      const i = index.get(backend)!;
      counts[i]!++;
      const job = { arrival: now, backend, request };
      if (busy[i]! < workers[i]!) serve(job);
      else maxQueue = Math.max(maxQueue, queues[i]!.push(job));
    });
  }
  while (events.size > 0) {
    const [time, run] = events.pop();
    now = time;
    run();
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { strategy: name, p50: at(0.5), p99: at(0.99), maxQueue, share: counts.map((c) => c / trace.requests.length) };
}

/** A bar chart of p50 and p99 per strategy, with each one's share per backend, as a standalone SVG. */
export function chart(trace: Trace, results: readonly ReplayResult[]): string {
  const width = 760;
  const row = 34;
  const left = 200;
  const top = 40;
  const height = top + results.length * row + 70;
  const most = Math.max(...results.map((r) => r.p99), 1);
  const scale = (ms: number): number => (ms / most) * (width - left - 220);
  const escape = (s: string): string => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const colours = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7'];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="10" y="20" font-size="14">Replay of ${trace.requests.length} logged requests over ${trace.backends.length} backends: p50 (dark) and p99 (light), ms; share per backend</text>`,
  ];
  results.forEach((r, i) => {
    const y = top + i * row;
    parts.push(`<text x="10" y="${y + 15}">${escape(r.strategy)}</text>`);
    parts.push(`<rect x="${left}" y="${y + 2}" width="${scale(r.p99).toFixed(1)}" height="18" fill="#a0cbe8"/>`);
    parts.push(`<rect x="${left}" y="${y + 2}" width="${scale(r.p50).toFixed(1)}" height="18" fill="#4e79a7"/>`);
    parts.push(`<text x="${left + scale(r.p99) + 6}" y="${y + 15}">${r.p50.toFixed(1)} / ${r.p99.toFixed(1)}</text>`);
    let x = width - 200;
    r.share.forEach((share, b) => {
      parts.push(`<rect x="${x.toFixed(1)}" y="${y + 2}" width="${(share * 190).toFixed(1)}" height="18" fill="${colours[b % colours.length]}"/>`);
      x += share * 190;
    });
  });
  const legendY = top + results.length * row + 20;
  trace.backends.forEach((id, b) => {
    parts.push(`<rect x="${10 + b * 180}" y="${legendY}" width="12" height="12" fill="${colours[b % colours.length]}"/>`);
    parts.push(`<text x="${28 + b * 180}" y="${legendY + 11}">${escape(id)}</text>`);
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}
