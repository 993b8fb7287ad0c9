import type { Backend, Snapshot } from '../pool/index.js';
import type { PickRequest, Strategy } from './strategy.js';

/** Latency buckets: 20 per decade from 1 µs to 100 s (log scale), the last open-ended. */
const PER_DECADE = 20;
const LOWEST_MS = 0.001;
const BUCKETS = 8 * PER_DECADE + 1;

/** What one process saw, as numbers a cluster primary can add up. */
export interface ShadowImage {
  readonly live: string;
  /** The live strategy's choices' predicted latencies, by bucket. */
  readonly liveLatency: number[];
  readonly shadows: readonly { readonly strategy: string; readonly decisions: number; readonly agreements: number; readonly latency: number[] }[];
}

/** Per shadow strategy (and the live one): agreement with the live choice and predicted latency. */
export interface ShadowSummary {
  readonly live: { readonly strategy: string; readonly decisions: number; readonly p50Ms: number; readonly p99Ms: number };
  readonly shadows: readonly {
    readonly strategy: string; readonly decisions: number; readonly agreement: number; readonly p50Ms: number; readonly p99Ms: number;
  }[];
}

function bucket(ms: number): number {
  if (!(ms > LOWEST_MS)) return 0;
  return Math.min(BUCKETS - 1, Math.ceil(Math.log10(ms / LOWEST_MS) * PER_DECADE));
}

/** The upper bound of a bucket, in ms. */
function bound(index: number): number {
  return LOWEST_MS * 10 ** (index / PER_DECADE);
}

/** The q-quantile of a bucketed distribution (the bucket's upper bound; 0 when empty). */
export function quantileMs(counts: readonly number[], q: number): number {
  let total = 0;
  for (const c of counts) total += c;
  if (total === 0) return 0;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) return Math.round(bound(i) * 1000) / 1000;
  }
  return bound(counts.length - 1);
}

/**
 * Shadow strategies (SHADOW_STRATEGIES): for each request, what each would have picked from the
 * same snapshot (no traffic goes there), whether that agrees with the live choice, and the
 * latency the choice predicts: the chosen backend's latency EWMA at that moment. The live
 * choice's predicted latency is recorded the same way, so the two compare like for like.
 */
export class Shadows {
  readonly #live: () => string;
  readonly #strategies: readonly Strategy[];
  readonly #decisions: Float64Array;
  readonly #agreements: Float64Array;
  readonly #latency: Float64Array[];
  readonly #liveLatency = new Float64Array(BUCKETS);

  constructor(strategies: readonly Strategy[], live: () => string) {
    this.#strategies = strategies;
    this.#live = live;
    this.#decisions = new Float64Array(strategies.length);
    this.#agreements = new Float64Array(strategies.length);
    this.#latency = strategies.map(() => new Float64Array(BUCKETS));
  }

  /** After the live pick of `chosen` from `snapshot`. */
  observe(snapshot: Snapshot, request: PickRequest, chosen: Backend): void {
    this.#liveLatency[bucket(chosen.latency)]!++;
    for (let i = 0; i < this.#strategies.length; i++) {
      const pick = this.#strategies[i]!.pick(snapshot, request);
      if (pick === undefined) continue;
      this.#decisions[i]!++;
      if (pick === chosen) this.#agreements[i]!++;
      this.#latency[i]![bucket(pick.latency)]!++;
    }
  }

  image(): ShadowImage {
    return {
      live: this.#live(),
      liveLatency: [...this.#liveLatency],
      shadows: this.#strategies.map((s, i) => ({ strategy: s.name, decisions: this.#decisions[i]!, agreements: this.#agreements[i]!, latency: [...this.#latency[i]!] })),
    };
  }
}

/** Several processes' images as one (a cluster's workers). */
export function mergeShadows(images: readonly ShadowImage[]): ShadowImage | undefined {
  if (images.length === 0) return undefined;
  const add = (a: number[], b: readonly number[]): number[] => a.map((x, i) => x + (b[i] ?? 0));
  return images.slice(1).reduce<ShadowImage>((sum, img) => ({
    live: sum.live,
    liveLatency: add(sum.liveLatency, img.liveLatency),
    shadows: sum.shadows.map((s) => {
      const other = img.shadows.find((o) => o.strategy === s.strategy);
      return other === undefined ? s : { strategy: s.strategy, decisions: s.decisions + other.decisions, agreements: s.agreements + other.agreements, latency: add(s.latency, other.latency) };
    }),
  }), images[0]!);
}

export function summarizeShadows(image: ShadowImage): ShadowSummary {
  const liveDecisions = image.liveLatency.reduce((a, b) => a + b, 0);
  return {
    live: { strategy: image.live, decisions: liveDecisions, p50Ms: quantileMs(image.liveLatency, 0.5), p99Ms: quantileMs(image.liveLatency, 0.99) },
    shadows: image.shadows.map((s) => ({
      strategy: s.strategy, decisions: s.decisions, agreement: s.decisions === 0 ? 0 : Math.round((s.agreements / s.decisions) * 10_000) / 10_000,
      p50Ms: quantileMs(s.latency, 0.5), p99Ms: quantileMs(s.latency, 0.99),
    })),
  };
}
