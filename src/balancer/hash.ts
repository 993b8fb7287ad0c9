/**
 * FNV-1a over text[start, end) (UTF-16 code units), then murmur3's fmix32 so that nearby keys
 * spread over a whole table. 32 bits, unsigned; `seed` varies the offset basis. Reads the text
 * in place: hashing a key never slices it out.
 */
export function hash32(text: string, start = 0, end = text.length, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = start; i < end; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
