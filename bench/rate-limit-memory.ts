/**
 * The rate limit's key table under many distinct keys: heap per key once 100,000 keys are kept,
 * that a table of 100,000 stays at 100,000 under twice as many keys (the least recently used
 * forgotten), and the time one decision takes. Run: `node --expose-gc dist/bench/rate-limit-memory.js`
 * (`npm run bench:rate-limit`). Figures, not a test: they depend on the machine and its load.
 */
import { performance } from 'node:perf_hooks';
import { Gcra } from '../src/rate-limit/index.js';

const KEYS = 100_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  process.stderr.write('run with node --expose-gc\n');
  process.exit(2);
}

/** Client-address-like keys, made before measuring so that only the table is counted. */
const keys = Array.from({ length: 2 * KEYS }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);

/** The JavaScript heap and the typed arrays' backing stores (outside the heap). */
function heap(): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const before = heap();
const table = new Gcra(100, 1000, 100, KEYS);
// Times spread over a second: TATs are fractional milliseconds, as performance.now() gives them.
for (let i = 0; i < KEYS; i++) table.take(keys[i]!, i * 0.0101);
const full = heap();
const perKey = (full - before) / KEYS;
process.stdout.write(`rate limit table: ${table.size} keys, ${((full - before) / 1024 / 1024).toFixed(1)} MiB (heap and typed arrays), ${perKey.toFixed(0)} bytes per key (the key strings themselves not counted: they are the requests')\n`);

for (let i = KEYS; i < 2 * KEYS; i++) table.take(keys[i]!, 1000 + i * 0.0101);
const after = heap();
process.stdout.write(`after ${2 * KEYS} distinct keys: ${table.size} kept, ${table.evicted} forgotten, memory ${((after - before) / 1024 / 1024).toFixed(1)} MiB\n`);

// One decision on a kept key (the hit path: a Map get, delete and set), then on new keys (an eviction each).
const ROUNDS = 2_000_000;
let t0 = performance.now();
for (let i = 0; i < ROUNDS; i++) table.take(keys[KEYS + (i % KEYS)]!, 3000 + i * 0.001);
const hit = ((performance.now() - t0) * 1e6) / ROUNDS;
t0 = performance.now();
for (let i = 0; i < ROUNDS; i++) table.take(keys[i % (2 * KEYS)]!, 6000 + i * 0.001);
const mixed = ((performance.now() - t0) * 1e6) / ROUNDS;
process.stdout.write(`one decision: ${hit.toFixed(0)} ns on a kept key, ${mixed.toFixed(0)} ns cycling through twice the table's size (an eviction each)\n`);
