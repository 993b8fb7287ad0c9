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

/** FNV-1a over a string's UTF-16 code units, 32 bits; `seed` varies the offset basis. */
export function hashString(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche (murmur3 fmix32) so nearby keys spread over the whole table.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
