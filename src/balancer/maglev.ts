import { hash32 } from './hash.js';

/** Table size: a prime well above 100 × the backend count, as the paper advises (M = 65537). */
export const MAGLEV_SIZE = 65_537;

/**
 * Builds a Maglev lookup table (Eisenbud et al., "Maglev: A Fast and Reliable Software
 * Network Load Balancer", NSDI 2016, section 3.4): each backend walks its own permutation of
 * the table (offset and skip from two hashes of its name) and the backends take turns
 * claiming their next free slot. The result gives each backend an almost equal share, and
 * removing one moves little more than that backend's own keys.
 */
export function buildMaglevTable(names: readonly string[], size = MAGLEV_SIZE): Int32Array {
  const n = names.length;
  const table = new Int32Array(size).fill(-1);
  if (n === 0) return table;
  const offset = new Uint32Array(n);
  const skip = new Uint32Array(n);
  const next = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    offset[i] = hash32(names[i]!, 0, names[i]!.length, 0x9747b28c) % size;
    skip[i] = (hash32(names[i]!, 0, names[i]!.length, 0x5bd1e995) % (size - 1)) + 1;
  }
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      let slot = (offset[i]! + next[i]! * skip[i]!) % size;
      while (table[slot]! >= 0) {
        next[i]!++;
        slot = (offset[i]! + next[i]! * skip[i]!) % size;
      }
      table[slot] = i;
      next[i]!++;
      if (++filled === size) return table;
    }
  }
}
