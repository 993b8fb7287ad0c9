/**
 * `npm run simulate`: every strategy against the same heterogeneous pool (5 backends, one 10×
 * slower, Poisson arrivals at 70% of capacity). Deterministic: same output on every run.
 * Options: --requests N, --seed N, --json; --update-doc docs/strategies.md rewrites the table
 * between the document's markers with this output (default options only), so the figures the
 * documentation shows are this command's.
 *
 * `npm run simulate -- --replay access.log [--strategies a,b] [--key ip|path] [--chart out.svg]`:
 * the balancer's own JSON access log replayed through every strategy (or those named): the
 * logged arrivals, each backend's logged service times and concurrency, the logged keys.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { strategyNames } from '../src/balancer/index.js';
import { chart, readTrace, replay } from './replay.js';
import { DEFAULT_SIMULATION, SIMULATED, simulate } from './simulation.js';
import { simulationTable, withTable } from './simulation-table.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' },
    'update-doc': { type: 'string' }, replay: { type: 'string' }, strategies: { type: 'string' }, key: { type: 'string', default: 'ip' }, chart: { type: 'string' },
  },
});

if (values.replay !== undefined) {
  const names = values.strategies?.split(',').map((s) => s.trim()).filter((s) => s !== '') ?? strategyNames();
  const unknown = names.find((n) => !strategyNames().includes(n));
  if (unknown !== undefined) throw new Error(`--strategies: unknown strategy "${unknown}"; expected some of ${strategyNames().join(', ')}`);
  if (values.key !== 'ip' && values.key !== 'path') throw new Error(`--key: expected ip or path, got ${values.key}`);
  const trace = readTrace(values.replay);
  const seed = values.seed === undefined ? 42 : Number(values.seed);
  const results = names.map((name) => replay(trace, name, values.key as 'ip' | 'path', seed));
  if (values.chart !== undefined) writeFileSync(values.chart, chart(trace, results));
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify({ requests: trace.requests.length, backends: trace.backends, concurrency: Object.fromEntries(trace.concurrency), results }, null, 2)}\n`);
  } else {
    process.stdout.write(`Replay of ${values.replay}: ${trace.requests.length} requests over ${trace.backends.length} backends `
      + `(${trace.backends.map((id) => `${id} ×${trace.concurrency.get(id)}`).join(', ')} at once at most); keys: ${values.key}; seed ${seed}\n\n`);
    const header = `${'strategy'.padEnd(24)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(10)}${'max queue'.padStart(11)}   share per backend (${trace.backends.join(', ')})`;
    process.stdout.write(`${header}\n${'-'.repeat(header.length)}\n`);
    for (const r of results) {
      process.stdout.write(`${r.strategy.padEnd(24)}${r.p50.toFixed(1).padStart(9)}${r.p99.toFixed(1).padStart(10)}${String(r.maxQueue).padStart(11)}   ${r.share.map((s) => `${(s * 100).toFixed(1)}%`).join(' ')}\n`);
    }
    if (values.chart !== undefined) process.stdout.write(`\nchart: ${values.chart}\n`);
  }
} else {
  const options = {
    ...DEFAULT_SIMULATION,
    requests: values.requests === undefined ? DEFAULT_SIMULATION.requests : Number(values.requests),
    seed: values.seed === undefined ? DEFAULT_SIMULATION.seed : Number(values.seed),
  };
  const results = SIMULATED.map((s) => simulate(s, options));
  const updateDoc = values['update-doc'];
  if (updateDoc !== undefined) {
    if (values.requests !== undefined || values.seed !== undefined) throw new Error('--update-doc: the documented run uses the default --requests and --seed');
    writeFileSync(updateDoc, withTable(readFileSync(updateDoc, 'utf8'), simulationTable(results)));
    process.stdout.write(`${updateDoc}: the simulation's table rewritten\n`);
  } else if (values.json === true) {
    process.stdout.write(`${JSON.stringify({ options, results }, null, 2)}\n`);
  } else {
    const capacity = options.serviceMs.map((ms) => options.workers * 1000 / ms);
    process.stdout.write(`Pool: ${options.serviceMs.length} backends, mean service ${options.serviceMs.join('/')} ms, ${options.workers} workers each `
      + `(capacity ${capacity.join('/')} req/s); Poisson arrivals at ${options.utilisation * 100}% of capacity; ${options.requests} requests; seed ${options.seed}\n\n`);
    process.stdout.write(simulationTable(results));
  }
}
