/**
 * `npm run bench:pick`: nanoseconds and bytes allocated per `pick()` for every strategy, over
 * 1M picks from a 10-backend snapshot. Run by the npm script with `--expose-gc` and a young
 * generation large enough that no collection happens during a measured loop, so the heap's
 * growth is exactly what the picks allocated.
 */
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { createStrategy, seededRandom, Sticky, type PickRequest, type Strategy } from '../src/balancer/index.js';
import { Pool } from '../src/pool/index.js';

const PICKS = 1_000_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  process.stderr.write('run with: node --expose-gc --max-semi-space-size=256 dist/bench/pick.js (npm run bench:pick does)\n');
  process.exit(2);
}

const pool = new Pool(Array.from({ length: 10 }, (_, i) => ({ url: `http://10.0.0.${i + 1}:8080`, weight: (i % 3) + 1 })));
for (const b of pool.backends) pool.setHealth(b, true);
pool.backends.forEach((b, i) => { b.setInFlight(i % 4); b.observeLatency(5 + i, 1); });

const sticky = new Sticky(createStrategy('round-robin'), { cookie: 'lb', secret: 'benchmark-secret-0123' });
const requests: PickRequest[] = Array.from({ length: 1024 }, (_, i) => ({
  method: 'GET',
  path: `/items/${i}?page=2`,
  clientIp: `10.1.${i >> 8}.${i & 255}`,
  headers: { 'x-user-id': `user-${i}`, cookie: `theme=dark; sid=s${i}; lb=${sticky.valueFor(pool.backends[i % 10]!)}` },
}));

const cases: [string, Strategy][] = [
  ...['round-robin', 'weighted-round-robin', 'least-connections', 'random', 'power-of-two-choices', 'peak-ewma']
    .map((name): [string, Strategy] => [name, createStrategy(name, { random: seededRandom(1) })]),
  ['consistent-hash (ip)', createStrategy('consistent-hash', { hashKey: 'ip' })],
  ['consistent-hash (header)', createStrategy('consistent-hash', { hashKey: 'header:x-user-id' })],
  ['consistent-hash (cookie)', createStrategy('consistent-hash', { hashKey: 'cookie:sid' })],
  ['consistent-hash c=1.25', createStrategy('consistent-hash', { hashKey: 'ip', loadFactor: 1.25 })],
  ['sticky (cookie present)', sticky],
];

const collections: number[] = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) collections.push(e.startTime); }).observe({ entryTypes: ['gc'] });

const snapshot = pool.available;
let sink = 0;
const rows: { strategy: string; nsPerPick: number; bytesPerPick: number; collections: number }[] = [];
for (const [label, strategy] of cases) {
  for (let i = 0; i < 200_000; i++) sink += strategy.pick(snapshot, requests[i & 1023]!)!.inFlight; // warm up and JIT
  gc();
  const t0 = performance.now();
  const before = getHeapStatistics().used_heap_size;
  const start = process.hrtime.bigint();
  for (let i = 0; i < PICKS; i++) sink += strategy.pick(snapshot, requests[i & 1023]!)!.inFlight;
  const ns = Number(process.hrtime.bigint() - start);
  const after = getHeapStatistics().used_heap_size;
  const t1 = performance.now();
  await new Promise((r) => setImmediate(r)); // the observer reports collections asynchronously
  const during = collections.filter((t) => t >= t0 && t <= t1).length;
  rows.push({ strategy: label, nsPerPick: ns / PICKS, bytesPerPick: Math.max(0, after - before) / PICKS, collections: during });
}

if (process.argv.includes('--json')) {
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
} else {
  process.stdout.write(`${PICKS} picks per strategy over 10 healthy backends (node ${process.version})\n\n`);
  process.stdout.write(`${'strategy'.padEnd(28)}${'ns/pick'.padStart(9)}${'bytes/pick'.padStart(12)}${'GCs'.padStart(5)}\n`);
  process.stdout.write('(bytes/pick is the heap growth over the loop divided by the picks; below 1 means no per-pick object)\n');
  for (const r of rows) {
    process.stdout.write(`${r.strategy.padEnd(28)}${r.nsPerPick.toFixed(1).padStart(9)}${r.bytesPerPick.toFixed(2).padStart(12)}${String(r.collections).padStart(5)}\n`);
  }
}
if (sink === -1) process.stdout.write('\n');
