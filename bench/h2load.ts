/**
 * h2load (nghttp2's load generator, Debian `nghttp2-client`) as the load of `npm run bench --
 * --h2`: HTTP/2 over TLS (ALPN h2), h2c with prior knowledge, or HTTP/1.1 (`--h1`), closed loop.
 * h2load prints only the mean and spread of its latencies, so every response's time is read
 * from its per-request log (`--log-file`) and the percentiles are taken from that, as wrk's are.
 *
 * It runs a number of requests (`-n`), not a duration: h2load 1.52's timing mode (`-D`, Debian
 * 12's) counted no request at all over TLS, with or without `--warm-up-time`, and once kept
 * loading for minutes past its duration. The number is the target's last measured rate times
 * the time asked for, so a run lasts about that long; the first run of a target starts with a
 * short probe to learn the rate.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';

/** How h2load loads one target. */
export interface H2LoadShape {
  readonly url: string;
  /** HTTP/1.1 (`--h1`): one request at a time per connection, as wrk sends them. */
  readonly h1: boolean;
  readonly connections: number;
  /** Concurrent streams per connection (`-m`); 1 over HTTP/1.1 (no pipelining). */
  readonly streams: number;
}

export interface H2LoadResult { requests: number; errors: number; p50: number; p99: number; seconds: number }

/** Requests in flight × this: the probe that learns a target's rate. */
const PROBE_ROUNDS = 20;
/** A run that takes this many times longer than asked (a target that stopped answering) is stopped. */
const OVERRUN = 5;

/** Runs h2load against the targets, remembering each one's rate (by its name) between runs. */
export class H2Load {
  readonly #prefix: (command: string[]) => string[];
  readonly #logFile: string;
  readonly #rates = new Map<string, number>();

  /** `prefix` puts h2load on the load generator's CPUs; `logFile` holds each run's per-request log while it is read. */
  constructor(prefix: (command: string[]) => string[], logFile: string) {
    this.#prefix = prefix;
    this.#logFile = logFile;
  }

  /** Loads the target called `name` the way `shape` says, for about `seconds`. */
  async run(name: string, shape: H2LoadShape, seconds: number): Promise<H2LoadResult> {
    let probe: H2LoadResult | undefined;
    let rate = this.#rates.get(name);
    if (rate === undefined) {
      probe = await this.#once(shape, shape.connections * shape.streams * PROBE_ROUNDS, seconds);
      if (probe.requests === 0) return probe;
      rate = probe.requests / probe.seconds;
    }
    const left = seconds - (probe?.seconds ?? 0);
    const main = left > 0 ? await this.#once(shape, Math.max(shape.connections * shape.streams, Math.round(rate * left)), left) : undefined;
    const last = main ?? probe!;
    if (last.requests > 0) this.#rates.set(name, last.requests / last.seconds);
    if (probe === undefined || main === undefined) return last;
    // Both ran within the window the caller measures: their sum is what it was given.
    return {
      requests: probe.requests + main.requests, errors: probe.errors + main.errors, seconds: probe.seconds + main.seconds,
      p50: main.p50, p99: main.p99,
    };
  }

  async #once(shape: H2LoadShape, requests: number, seconds: number): Promise<H2LoadResult> {
    const [file, ...args] = this.#prefix([
      'h2load', '-t1', `-c${shape.connections}`, `-m${shape.streams}`, `-n${requests}`, `--log-file=${this.#logFile}`,
      ...(shape.h1 ? ['--h1'] : []), shape.url,
    ]);
    const child = spawn(file!, args);
    let out = '';
    let err = '';
    child.stdout!.on('data', (c) => { out += c; });
    child.stderr!.on('data', (c) => { err += c; });
    const overrun = setTimeout(() => child.kill('SIGTERM'), Math.max(30, seconds * OVERRUN) * 1000);
    await once(child, 'close');
    clearTimeout(overrun);
    const counts = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed/.exec(out);
    const done = Number(counts?.[1] ?? 0);
    // `failed` counts HTTP-level failures (not 2xx or 3xx) and the streams and connections that broke.
    const failed = Number(counts?.[3] ?? 0);
    // `finished in 7.51s`, `761.77ms` or `950us`.
    const finished = /finished in ([\d.]+)(us|ms|s)/.exec(out);
    const took = finished === null ? seconds : Number(finished[1]) / (finished[2] === 'us' ? 1e6 : finished[2] === 'ms' ? 1e3 : 1);
    if (done === 0) {
      // What h2load said went wrong, else its count of requests.
      const why = err.trim().split('\n').slice(-3).join(' | ') || (/^requests: .*$/m.exec(out)?.[0] ?? '');
      process.stderr.write(`bench: h2load got no response from ${shape.url}${why === '' ? '' : `: ${why}`}\n`);
    }
    const { p50, p99 } = percentiles(this.#logFile);
    return { requests: done, errors: done === 0 ? Math.max(1, failed) : failed, p50, p99, seconds: took };
  }
}

/** p50 and p99 in ms of the answered requests in h2load's log (start µs, status, µs to the end; status -1: failed). */
function percentiles(logFile: string): { p50: number; p99: number } {
  let text: string;
  try {
    text = readFileSync(logFile, 'latin1');
  } catch {
    return { p50: 0, p99: 0 };
  }
  rmSync(logFile, { force: true });
  const times = new Float64Array(text.length / 6 + 1);
  let count = 0;
  let lineStart = 0;
  while (lineStart < text.length) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd < 0) lineEnd = text.length;
    const firstTab = text.indexOf('\t', lineStart);
    const secondTab = firstTab < 0 ? -1 : text.indexOf('\t', firstTab + 1);
    if (secondTab > 0 && secondTab < lineEnd && text.charCodeAt(firstTab + 1) !== 45 /* '-': a failed stream */) {
      times[count++] = Number(text.slice(secondTab + 1, lineEnd));
    }
    lineStart = lineEnd + 1;
  }
  const sorted = times.subarray(0, count).sort();
  const at = (q: number): number => (count === 0 ? 0 : sorted[Math.min(count - 1, Math.floor(q * count))]! / 1000);
  return { p50: at(0.5), p99: at(0.99) };
}
