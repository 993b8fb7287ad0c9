/**
 * The clients of `npm run bench:peers`, each on the load generator's CPUs: wrk (closed loop,
 * kept-alive or `Connection: close`, GET or a POST from a Lua script), openssl s_time (one TLS
 * handshake per request, resumed or full), h2load (HTTP/2 over TLS), bench/loadgen (a fixed
 * rate, latency from each request's intended send time) and idle sockets (the memory mode).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { H2Load } from '../h2load.js';
import type { Mode } from './modes.js';
import { LOAD_CPUS, pinned } from './process.js';

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  /** Latency percentiles in ms (0 where the client does not report one). */
  p50: number;
  p99: number;
  p999: number;
  /** What the client said when it got no answer at all. */
  problem?: string;
  /** openssl s_time: the handshakes that resumed a session. */
  resumed?: number;
}

/** Runs a command to its end; its standard output. */
async function output(command: readonly string[]): Promise<string> {
  const [file, ...args] = pinned(LOAD_CPUS, command);
  const child = spawn(file!, args);
  let out = '';
  child.stdout!.on('data', (c) => { out += c; });
  // Its complaints (wrk's `unable to connect`) follow, so a run with no answers says why.
  let err = '';
  child.stderr!.on('data', (c) => { err += c; });
  await once(child, 'close');
  return err === '' ? out : `${out}\n${err}`;
}

/** A wrk latency (`812.00us`, `1.20ms`, `2.00s`) in ms; 0 when absent. */
export function wrkMs(out: string, label: string): number {
  const m = new RegExp(`\\s${label.replace('.', '\\.')}%\\s+([\\d.]+)(us|ms|s)\\b`).exec(out);
  if (!m) return 0;
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
}

/** wrk's counts and percentiles: non-2xx/3xx answers and every socket error are errors. */
export function parseWrk(out: string, seconds: number): LoadResult {
  const socketErrors = /Socket errors: (.*)/.exec(out)?.[1] ?? '';
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + [...socketErrors.matchAll(/\d+/g)].reduce((n, m) => n + Number(m[0]), 0);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  return {
    requests, errors, seconds, p50: wrkMs(out, '50'), p99: wrkMs(out, '99'), p999: 0,
    ...(requests === 0 ? { problem: `wrk: ${out.trim().split('\n').slice(-2).join(' | ')}` } : {}),
  };
}

/** openssl s_time's `N connections in T real seconds`, summed over its processes, and how many resumed. */
export function parseSTime(outs: readonly string[], seconds: number): LoadResult {
  let requests = 0;
  let errors = 0;
  let resumed = 0;
  for (const out of outs) {
    const m = /(\d+) connections in (\d+) real seconds/.exec(out);
    if (m) requests += Number(m[1]);
    else errors++;
    // Its progress lines: a character per connection, `r` for one that resumed its session.
    for (const line of out.split('\n')) if (/^[r*t3]+$/.test(line)) resumed += line.split('r').length - 1;
  }
  return { requests, errors, seconds, p50: 0, p99: 0, p999: 0, resumed };
}

export class Clients {
  readonly #workDir: string;
  readonly #loadgen: string;
  readonly #h2load: H2Load;

  constructor(workDir: string, loadgen: string) {
    this.#workDir = workDir;
    this.#loadgen = loadgen;
    this.#h2load = new H2Load((command) => pinned(LOAD_CPUS, command), join(workDir, 'h2load.log'));
  }

  /** Loads `port` the way `mode` says for `seconds` (the `rate` driver at `rate` requests per second; 0: its closed loop, the maximum). */
  async run(mode: Mode, target: string, port: number, seconds: number, rate: number): Promise<LoadResult> {
    const scheme = mode.listen === 'tls' ? 'https' : 'http';
    const url = `${scheme}://127.0.0.1:${port}/`;
    switch (mode.driver) {
      case 'wrk': {
        const script = mode.upload > 0 ? ['-s', this.#uploadScript(mode.upload)] : [];
        const close = mode.newConnection ? ['-H', 'Connection: close'] : [];
        const gzip = mode.gzip ? ['-H', 'Accept-Encoding: gzip'] : [];
        return parseWrk(await output(['wrk', '-t1', `-c${mode.connections}`, `-d${seconds}s`, '--latency', ...close, ...gzip, ...script, url]), seconds);
      }
      case 's_time': {
        // Whole seconds: s_time's -time takes no fraction.
        const secs = Math.max(1, Math.round(seconds));
        const outs = await Promise.all(Array.from({ length: mode.connections }, () =>
          output(['openssl', 's_time', '-connect', `127.0.0.1:${port}`, '-www', '/', mode.name === 'tls-new' ? '-reuse' : '-new', '-time', String(secs)])));
        return parseSTime(outs, secs);
      }
      case 'h2load': {
        const r = await this.#h2load.run(`${mode.name} ${target}`, { url, h1: false, connections: mode.connections, streams: 10 }, seconds);
        return { ...r, p999: 0 };
      }
      case 'rate': {
        const r = JSON.parse(await output([process.execPath, this.#loadgen, url, String(seconds), String(mode.connections), String(rate)])) as LoadResult;
        return { ...r, p999: r.p999 ?? 0 };
      }
      case 'idle':
        throw new Error('the idle driver is run by openIdle()');
    }
  }

  #uploadScript(bytes: number): string {
    const file = join(this.#workDir, `upload-${bytes}.lua`);
    writeFileSync(file, `wrk.method = "POST"\nwrk.body = string.rep("a", ${bytes})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`);
    return file;
  }
}

/**
 * Opens `count` connections to 127.0.0.1:port, 100 at a time, each making one GET and staying
 * open (kept alive, idle). The sockets, and how many failed.
 */
/** How long an idle client waits for the answer to its one request. */
const IDLE_ANSWER_MS = 10_000;

export async function openIdle(port: number, count: number): Promise<{ sockets: Socket[]; errors: number }> {
  const sockets: Socket[] = [];
  let errors = 0;
  const one = async (): Promise<void> => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    // A reset while idle is counted by the target, not thrown here.
    socket.on('error', () => {});
    try {
      await once(socket, 'connect');
      socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      // A target at its connection limit leaves the connection in its backlog, unanswered.
      socket.setTimeout(IDLE_ANSWER_MS, () => socket.destroy(new Error('no answer')));
      const [chunk] = await once(socket, 'data') as [Buffer];
      socket.setTimeout(0);
      if (!chunk.toString('latin1', 0, 12).startsWith('HTTP/1.1 200')) errors++;
      sockets.push(socket);
    } catch {
      errors++;
      socket.destroy();
    }
  };
  for (let opened = 0; opened < count; opened += 100) {
    await Promise.all(Array.from({ length: Math.min(100, count - opened) }, one));
  }
  return { sockets, errors };
}
