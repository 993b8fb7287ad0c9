/**
 * A Node load generator for machines without wrk: N keep-alive connections, each sending the
 * next GET as soon as the previous response ends, for a fixed time. Prints one JSON line:
 * requests, errors, seconds, latency percentiles in ms and its own CPU time in µs. Bounded in
 * time and count.
 * Args: URL SECONDS CONNECTIONS.
 */
import { Pool } from 'undici';

const [url = 'http://127.0.0.1:19100/', secondsText = '10', connectionsText = '50'] = process.argv.slice(2);
const seconds = Number(secondsText);
const connections = Number(connectionsText);
const MAX_SAMPLES = 5_000_000;
const pool = new Pool(new URL(url).origin, { connections, pipelining: 1 });
const path = new URL(url).pathname;
const latencies = new Float64Array(MAX_SAMPLES);
let count = 0;
let errors = 0;
const deadline = performance.now() + seconds * 1000;

async function client(): Promise<void> {
  while (performance.now() < deadline && count < MAX_SAMPLES) {
    const started = performance.now();
    try {
      const res = await pool.request({ path, method: 'GET' });
      await res.body.dump();
      if (res.statusCode !== 200) errors++;
    } catch {
      errors++;
    }
    latencies[count++] = performance.now() - started;
  }
}

const started = performance.now();
const cpuBefore = process.cpuUsage();
await Promise.all(Array.from({ length: connections }, client));
const cpu = process.cpuUsage(cpuBefore);
const elapsed = (performance.now() - started) / 1000;
await pool.close();
const sorted = latencies.subarray(0, count).sort();
const at = (q: number): number => sorted[Math.min(count - 1, Math.floor(q * count))] ?? 0;
// Its own CPU time too: run pinned alone, this is the undici client's share of a proxied request.
process.stdout.write(`${JSON.stringify({ requests: count, errors, seconds: elapsed, p50: at(0.5), p90: at(0.9), p99: at(0.99), cpuUs: cpu.user + cpu.system })}\n`);
