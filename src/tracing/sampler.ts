import type { ParentContext } from './traceparent.js';

/** OTEL_TRACES_SAMPLER's values (the SDK's built-in samplers). */
export const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;
export type SamplerName = (typeof SAMPLERS)[number];

/** 2^56: the ratio is compared with the trace id's last 14 hex digits (W3C level 2 puts its randomness there). */
const RANDOM_SPACE = 2 ** 56;

/**
 * The head decision, taken once per request as it arrives: whether its spans are sampled (and
 * the backend is told so). Parent-based samplers follow a client's `traceparent` flag; the
 * others, and requests without one, go by the root rule. The tail rule (Tracer) may still keep
 * what this drops.
 */
export class Sampler {
  readonly #parentBased: boolean;
  /** Trace ids whose low 56 bits are below this are sampled: 0 none, 2^56 all. */
  readonly #bound: number;

  constructor(name: SamplerName, ratio: number) {
    this.#parentBased = name.startsWith('parentbased_');
    const root = this.#parentBased ? name.slice('parentbased_'.length) : name;
    this.#bound = root === 'always_on' ? RANDOM_SPACE : root === 'always_off' ? 0 : Math.floor(Math.min(1, Math.max(0, ratio)) * RANDOM_SPACE);
  }

  sampled(traceId: string, parent: ParentContext | undefined): boolean {
    if (parent !== undefined && this.#parentBased) return parent.sampled;
    const bound = this.#bound;
    if (bound >= RANDOM_SPACE) return true;
    if (bound === 0) return false;
    return parseInt(traceId.slice(18), 16) < bound;
  }
}
