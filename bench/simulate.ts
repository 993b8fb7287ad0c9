/**
 * `npm run simulate`: every strategy against the same heterogeneous pool (5 backends, one 10×
 * slower, Poisson arrivals at 70% of capacity). Deterministic: same output on every run.
 * Options: --requests N, --seed N, --json.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SIMULATION, SIMULATED, simulate } from './simulation.js';

const { values } = parseArgs({ options: { requests: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' } } });
const options = {
  ...DEFAULT_SIMULATION,
  requests: values.requests === undefined ? DEFAULT_SIMULATION.requests : Number(values.requests),
  seed: values.seed === undefined ? DEFAULT_SIMULATION.seed : Number(values.seed),
};
const results = SIMULATED.map((s) => simulate(s, options));
if (values.json === true) {
  process.stdout.write(`${JSON.stringify({ options, results }, null, 2)}\n`);
} else {
  const capacity = options.serviceMs.map((ms) => options.workers * 1000 / ms);
  process.stdout.write(`Pool: ${options.serviceMs.length} backends, mean service ${options.serviceMs.join('/')} ms, ${options.workers} workers each `
    + `(capacity ${capacity.join('/')} req/s); Poisson arrivals at ${options.utilisation * 100}% of capacity; ${options.requests} requests; seed ${options.seed}\n\n`);
  const header = `${'strategy'.padEnd(24)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(10)}${'p99.9 ms'.padStart(10)}${'mean ms'.padStart(10)}   share per backend (slow one last)`;
  process.stdout.write(`${header}\n${'-'.repeat(header.length)}\n`);
  for (const r of results) {
    process.stdout.write(`${r.strategy.padEnd(24)}${r.p50.toFixed(1).padStart(9)}${r.p99.toFixed(1).padStart(10)}${r.p999.toFixed(1).padStart(10)}${r.mean.toFixed(1).padStart(10)}   ${r.share.map((s) => `${(s * 100).toFixed(1)}%`).join(' ')}\n`);
  }
}
