/**
 * The routed targets of `npm run bench` (bench/run.ts): a config file of 1,000 HTTPRoutes, 100
 * hostnames (`svc0.example.com` … `svc99.example.com`) × 10 PathPrefix routes each (`/p0` …
 * `/p9`), every one to the default pool, so the routed target's backends, connections and health
 * checks are those of the single-pool target and the difference is the router alone. The
 * requests visit every host, each at one of its prefixes in turn: on average a rule in the
 * middle of a host's list, never only the first.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const HOSTS = 100;
const PREFIXES = 10;
/** The target: routed CPU per request within 5% of the single pool's. */
const LIMIT = 1.05;

/** Writes the routes (YAML) into `dir`; returns the file's path. */
export function writeRoutes(dir: string): string {
  const lines = ['routes:'];
  for (let h = 0; h < HOSTS; h++) {
    for (let p = 0; p < PREFIXES; p++) {
      lines.push(`  - { name: svc${h}-p${p}, hostnames: [svc${h}.example.com], matches: [{ path: { type: PathPrefix, value: /p${p} } }], backendRefs: [{ name: default }] }`);
    }
  }
  const file = join(dir, 'routes.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** The requests, as `host/path`: host i asks for prefix i mod 10, so every rule position comes up alike. */
export function routeRequests(): string[] {
  return Array.from({ length: HOSTS }, (_, h) => `svc${h}.example.com/p${h % PREFIXES}/x`);
}

/** wrk's one request (it cannot send a mix): a host and a prefix in the middle of the table. */
export function middleRequest(): string {
  return `svc${HOSTS / 2 + PREFIXES / 2}.example.com/p${PREFIXES / 2}/x`;
}

interface Measured { readonly target: string; readonly cpuUsPerReq: number }

/** One engine's routed target against its single-pool target. */
export interface Check {
  readonly single: string;
  readonly routed: string;
  /** Medians over the rounds (CPU-µs per request). */
  readonly singleCpu: number;
  readonly routedCpu: number;
  /** routedCpu / singleCpu: the ratio of the medians, as the bench's other ratios. */
  readonly ratio: number;
  /** The same ratio within each round. */
  readonly byRound: readonly number[];
  readonly within: boolean;
}

const PAIRS: readonly (readonly [single: string, routed: string])[] = [
  ['load-balancer', 'load-balancer (routed)'],
  ['load-balancer (node)', 'load-balancer (node, routed)'],
];

/** The checks for every engine whose two targets were measured. */
export function routedChecks(summary: readonly Measured[], rounds: readonly (readonly Measured[])[]): Check[] {
  const checks: Check[] = [];
  for (const [single, routed] of PAIRS) {
    const s = summary.find((x) => x.target === single);
    const r = summary.find((x) => x.target === routed);
    if (s === undefined || r === undefined || s.cpuUsPerReq === 0) continue;
    const byRound = rounds.map((round) => {
      const a = round.find((x) => x.target === single);
      const b = round.find((x) => x.target === routed);
      return a === undefined || b === undefined ? NaN : b.cpuUsPerReq / a.cpuUsPerReq;
    });
    const ratio = r.cpuUsPerReq / s.cpuUsPerReq;
    checks.push({ single, routed, singleCpu: s.cpuUsPerReq, routedCpu: r.cpuUsPerReq, ratio, byRound, within: ratio <= LIMIT });
  }
  return checks;
}

/** The lines the bench prints: the ratio round by round, then the check, per engine. */
export function describeChecks(checks: readonly Check[]): string {
  return checks.map((c) => [
    `${c.routed} × ${c.single}, round by round: CPU-µs/req ${c.byRound.map((x) => x.toFixed(2)).join(' ')}`,
    `routed within 5% of single pool (${c.single}): ${c.within ? 'yes' : 'no'} (CPU-µs/req ${c.routedCpu.toFixed(1)} vs ${c.singleCpu.toFixed(1)}, ${c.ratio.toFixed(3)}×)`,
  ].join('\n')).join('\n');
}
