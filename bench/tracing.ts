/**
 * `node dist/bench/tracing.js`: the CPU time tracing adds to a request, in microseconds, with
 * the sampler at 0 (every request recorded, none exported), 0.01 and 1 (every request exported,
 * encoding and the POST to a local receiver included). Each request is what the proxy records
 * for a plain one: the context, the request's record, one try, one pick event, the end decision.
 * Compare with the fast engine's ~25 µs per proxied request (docs/performance.md).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { ContextResponse, RequestContext, type ClientRequest } from '../src/context/index.js';
import { Pool } from '../src/pool/index.js';
import type { TracingConfig } from '../src/tracing/config.js';
import { Tracer } from '../src/tracing/index.js';

const REQUESTS = 200_000;
const log = pino({ level: 'silent' });
const pool = new Pool([{ url: 'http://10.0.0.1:8080', weight: 1 }]);
const backend = pool.backends[0]!;
const raw = ['Host', 'example.com', 'User-Agent', 'bench/1.0', 'Accept', '*/*', 'X-Forwarded-For', '10.1.1.1'];
const req = { method: 'GET', url: '/items/1?page=2', headers: { host: 'example.com' }, rawHeaders: raw, httpVersionMajor: 1, complete: true, socket: { remoteAddress: '10.0.0.9' } } as unknown as ClientRequest;
const res = new ContextResponse(req as never);

const receiver = createServer((r, s) => { r.resume(); r.on('end', () => s.end()); });
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

function config(ratio: number): TracingConfig {
  return {
    endpoint, tracesEndpoint: undefined, protocol: 'http/protobuf', headers: {}, timeout: 10_000, serviceName: 'bench', resourceAttributes: {},
    sampler: 'traceidratio', samplerArg: ratio, slowThreshold: 0, maxQueue: 1_000_000, batchSize: 512, scheduleDelay: 50,
  };
}

/** CPU µs per request: `with` the tracer's work, minus the same loop without it. */
async function run(tracer: Tracer | undefined): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < REQUESTS; i++) {
    const ctx = new RequestContext(req, res, log, 'http');
    if (tracer !== undefined) {
      tracer.begin(ctx);
      const trace = ctx.trace!;
      trace.event('lb.route', { 'lb.strategy': 'round-robin', 'lb.after': 'first', 'lb.candidates': 1, 'lb.chosen': backend.id, 'lb.excluded': '' });
      const span = trace.startTry(backend);
      span.responded(200);
      span.finish();
      ctx.endTime = performance.now();
      tracer.end(ctx);
    } else {
      ctx.endTime = performance.now();
    }
    // Let exports go out as they would between requests.
    if ((i & 1023) === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await tracer?.shutdown();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / REQUESTS;
}

await run(undefined); // warm-up
const base = await run(undefined);
const rows: string[] = [`tracing off (the loop alone): ${base.toFixed(3)} µs/request`];
for (const ratio of [0, 0.01, 1]) {
  await run(new Tracer(config(ratio), log)); // warm-up
  const tracer = new Tracer(config(ratio), log);
  const us = await run(tracer);
  rows.push(`ratio ${ratio}: +${(us - base).toFixed(3)} µs/request (exported ${tracer.exporter.exported} spans, dropped ${tracer.exporter.dropped})`);
}
receiver.close();
console.log(rows.join('\n'));
