/**
 * A Node load generator for machines without wrk, and for fixed-rate runs (which wrk cannot do).
 *
 * Closed loop (the default): N keep-alive connections, each sending the next GET as soon as the
 * previous response ends, for a fixed time. Fixed rate (RATE > 0): GETs are started on a
 * schedule of RATE per second over at most N connections, whatever the responses do, and each
 * latency is counted from the request's scheduled time, so a stall delays every request it
 * holds up (no coordinated omission); the first second (a fifth of short runs) is not timed. The
 * schedule is kept by a 1 ms timer, so a request starts up to 1 ms late: the same for every
 * target, and counted. Prints one JSON line: requests, errors, seconds, latency
 * percentiles in ms (p50, p90, p99, p99.9) and its own CPU time in µs. Bounded in time and count.
 * Args: URL SECONDS CONNECTIONS [RATE] [REQUESTS]: REQUESTS, when given, is a comma-separated
 * list of `host/path` sent in turn (Host header and path), instead of URL's path with its host.
 */
import { Pool } from 'undici';

const [url = 'http://127.0.0.1:19100/', secondsText = '10', connectionsText = '50', rateText = '0'] = process.argv.slice(2);
const seconds = Number(secondsText);
const connections = Number(connectionsText);
const rate = Number(rateText);
const MAX_SAMPLES = 5_000_000;
const pool = new Pool(new URL(url).origin, { connections, pipelining: 1 });
/** What each request asks for, in turn: one Host and path, or a mix (bench/run.ts's routed targets). */
const shapes = (process.argv[6] ?? '').split(',').filter(Boolean).map((entry) => {
  const slash = entry.indexOf('/');
  return { path: entry.slice(slash), headers: { host: entry.slice(0, slash) } as Record<string, string> | undefined };
});
if (shapes.length === 0) shapes.push({ path: new URL(url).pathname, headers: undefined });
// BENCH_ACCEPT_ENCODING (bench/run.ts --accept-encoding): every request offers these codings.
const acceptEncoding = process.env.BENCH_ACCEPT_ENCODING;
if (acceptEncoding !== undefined && acceptEncoding !== '') for (const shape of shapes) shape.headers = { ...shape.headers, 'accept-encoding': acceptEncoding };
let turn = 0;
const latencies = new Float64Array(MAX_SAMPLES);
let count = 0;
let completed = 0;
let errors = 0;
/** Fixed rate: responses to requests scheduled before this are not timed (connections opening, code warming up). */
let timedFrom = 0;
const started = performance.now();
const deadline = started + seconds * 1000;

async function once(scheduled: number): Promise<void> {
  try {
    const shape = shapes[turn]!;
    turn = turn + 1 === shapes.length ? 0 : turn + 1;
    const res = await pool.request({ path: shape.path, method: 'GET', headers: shape.headers });
    await res.body.dump();
    if (res.statusCode !== 200) errors++;
  } catch {
    errors++;
  }
  completed++;
  if (scheduled >= timedFrom && count < MAX_SAMPLES) latencies[count++] = performance.now() - scheduled;
}

async function closedLoop(): Promise<void> {
  while (performance.now() < deadline && count < MAX_SAMPLES) await once(performance.now());
}

/** Starts every request whose time has come, once a millisecond; waits for the last ones. */
async function fixedRate(): Promise<void> {
  const interval = 1000 / rate;
  const total = Math.min(MAX_SAMPLES, Math.floor(seconds * rate));
  timedFrom = started + Math.min(1000, (seconds * 1000) / 5);
  const running = new Set<Promise<void>>();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      while (sent < total && started + sent * interval <= now) {
        const p = once(started + sent * interval);
        running.add(p);
        void p.finally(() => running.delete(p));
        sent++;
      }
      if (sent >= total) { clearInterval(timer); resolve(); }
    }, 1);
  });
  await Promise.all(running);
}

const cpuBefore = process.cpuUsage();
if (rate > 0) await fixedRate();
else await Promise.all(Array.from({ length: connections }, closedLoop));
const cpu = process.cpuUsage(cpuBefore);
const elapsed = (performance.now() - started) / 1000;
await pool.close();
const sorted = latencies.subarray(0, count).sort();
const at = (q: number): number => sorted[Math.min(count - 1, Math.floor(q * count))] ?? 0;
// Its own CPU time too: run pinned alone, this is the undici client's share of a proxied request.
process.stdout.write(`${JSON.stringify({ requests: completed, errors, seconds: elapsed, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), cpuUs: cpu.user + cpu.system })}\n`);
