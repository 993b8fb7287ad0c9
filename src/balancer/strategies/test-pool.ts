import { Pool } from '../../pool/index.js';

/** A pool of `weights.length` healthy backends on 127.0.0.1 with the given weights (test helper). */
export function healthyPool(weights: readonly number[]): Pool {
  const pool = new Pool(weights.map((weight, i) => ({ url: `http://127.0.0.1:${10_000 + i}`, weight })));
  for (const b of pool.backends) pool.setHealth(b, true);
  return pool;
}
