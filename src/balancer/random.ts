/** A source of uniform numbers in [0, 1). Injected so tests and simulations are reproducible. */
export type Random = () => number;

/**
 * mulberry32: a tiny, fast, seedable PRNG (public domain, Tommy Ettinger). Allocation-free:
 * the 32-bit state lives in a typed array, because a plain variable holding values past 2^30
 * would be boxed on every step.
 */
export function seededRandom(seed: number): Random {
  const state = new Uint32Array([seed >>> 0]);
  return () => {
    const a = (state[0]! + 0x6d2b79f5) >>> 0;
    state[0] = a;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
