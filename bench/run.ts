/**
 * `npm run bench`: the balancer against a minimal undici proxy (the baseline) and direct to the
 * backend (the ceiling), side by side in one run. Each target is pinned to the last CPU (when
 * there are 2 or more and `taskset` exists); the backends and the load generator share the
 * others. Load comes from wrk when installed (apt-get install wrk), else from bench/loadgen.
 * Reports req/s, p50/p99 latency, CPU-µs per request (the target's user+sys CPU time over the
 * measured window divided by requests) and peak RSS, with ratios to the baseline.
 *
 * Every figure is the median of `--rounds` rounds (5 by default) in which the targets take turns
 * going first; the floors are measured once.
 *
 * `--rate N` offers N requests per second instead of as many as the target can take (the Node
 * load generator, latency counted from each request's scheduled time): latency below saturation.
 *
 * `--node PATH` (or BENCH_NODE) runs the balancer, the baseline and the floors under another
 * Node.js binary (the backends and the load generator stay on this one): one line against another.
 *
 * `--peers` (`npm run bench:peers`) adds nginx, HAProxy and Caddy, each installed, configured
 * alike (round robin over the three backends, upstream keep-alive, one worker pinned to the
 * proxy's core) and measured in the same rounds; a missing one is named with its apt package.
 *
 * `--accept-encoding gzip` makes every request offer that coding and the backends answer
 * JSON-like text (with `--env COMPRESSION=gzip`: the cost of compressing). `--env KEY=VALUE` (repeatable) sets a setting of the balancer; `--against-env KEY=VALUE` one of
 * the `--against` build (which may be this one: the same code with other settings side by side).
 *
 * `--against PATH` adds another build of the balancer (its `dist/src/cli.js`) as a further
 * target in the same rounds: two versions compared side by side, under the same noise.
 *
 * Routed targets (on unless `--no-routed`): each engine again, with 1,000 HTTPRoutes (100
 * hostnames × 10 path prefixes, bench/routes.ts) in front of the same default pool, judged
 * against the same engine without routes (the target: within 5% of its CPU per request). Every
 * target then gets the same requests, spread over the 100 hosts and the 10 prefixes.
 *
 * `--policies` adds the edge policies' targets (bench/policies.ts): every policy off, a rate limit
 * that never refuses, gzip; each judged against the all-off target beside today's defaults.
 *
 * `--only REGEX` measures only the targets whose name matches (the baseline is always kept).
 *
 * `--h2` measures HTTP/2 instead (bench/h2.ts): h2load (apt-get install nghttp2-client) through
 * the balancer and HAProxy 2.6 (`proto h2`) to three h2c backends (bench/h2-backend.ts), with
 * the balancer's HTTP/1.1 paths beside them, in the same rounds; the ratios are to HAProxy's h2
 * row. `--h2-client tls|h2c` picks the client side (TLS with ALPN h2, the default, or h2c with
 * prior knowledge on the plain listener); `--streams N` (10) streams per connection,
 * `--connections` (10 with --h2) connections. With `--against`, the other build's h2→h2c row is
 * measured too, and compared with this build's.
 *
 *   npm run bench -- --duration 10 --connections 50 --body 6|1k|64k --strategy round-robin --rounds 5 --json
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeChecks, middleRequest, routedChecks, routeRequests, writeRoutes } from './routes.js';
import { describeH2Checks, H2_BACKEND_PORTS, h2Checks, h2Targets, type H2Client } from './h2.js';
import { H2Load, type H2LoadShape } from './h2load.js';
import { describePolicyChecks, policyChecks, policyEnvs } from './policies.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string' },
    body: { type: 'string', default: '6' },
    strategy: { type: 'string', default: 'round-robin' },
    rounds: { type: 'string', default: '5' },
    loadgen: { type: 'string', default: 'auto' },
    rate: { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
    floor: { type: 'boolean', default: true },
    against: { type: 'string' },
    admin: { type: 'boolean', default: true },
    node: { type: 'string' },
    peers: { type: 'boolean', default: false },
    env: { type: 'string', multiple: true, default: [] },
    'against-env': { type: 'string', multiple: true, default: [] },
    routed: { type: 'boolean', default: true },
    only: { type: 'string' },
    h2: { type: 'boolean', default: false },
    'h2-client': { type: 'string', default: 'tls' },
    streams: { type: 'string', default: '10' },
    'accept-encoding': { type: 'string' },
    policies: { type: 'boolean', default: false },
  },
  allowNegative: true,
});
const BODY_SIZES: Record<string, number> = { '6': 6, '1k': 1024, '64k': 65536 };
const bodySize = BODY_SIZES[values.body!];
if (bodySize === undefined) throw new Error(`--body: expected 6, 1k or 64k, got ${values.body}`);
const duration = Number(values.duration);
const h2 = values.h2!;
// HTTP/2 multiplexes: fewer connections, each with --streams requests in flight.
const connections = Number(values.connections ?? (h2 ? 10 : 50));
const streams = Number(values.streams);
const h2Client = values['h2-client'] as H2Client;
if (h2Client !== 'tls' && h2Client !== 'h2c') throw new Error(`--h2-client: expected tls or h2c, got ${h2Client}`);
if (h2 && spawnSync('h2load', ['--version']).error !== undefined) {
  process.stderr.write('bench: --h2 needs h2load (apt-get install nghttp2-client)\n');
  process.exit(1);
}
const here = fileURLToPath(new URL('.', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const BACKEND_PORTS = [19101, 19102, 19103];
const PROXY_PORT = 19100;
/** The balancer's admin listener (with --admin, the default): /metrics is scraped during the run. */
const ADMIN_PORT = 19199;
const SCRAPE_EVERY_MS = 5000;
const cpus = availableParallelism();
const hasTaskset = spawnSync('taskset', ['--version']).status === 0;
const pin = cpus >= 2 && hasTaskset;
const proxyCpu = String(cpus - 1);
const loadCpus = `0-${Math.max(0, cpus - 2)}`;
const rate = Number(values.rate);
if (!(rate >= 0)) throw new Error(`--rate: expected requests per second (0: as fast as possible), got ${values.rate}`);
// A fixed rate needs the Node load generator: wrk only runs closed loops.
// wrk sends no Accept-Encoding: a compression run needs the Node load generator too.
const useWrk = values.loadgen === 'node' || rate > 0 || values['accept-encoding'] !== undefined ? false : spawnSync('wrk', ['--version']).error === undefined;
const workDir = mkdtempSync(join(tmpdir(), 'lb-bench-'));
/** `KEY=VALUE` options as an environment. */
function settings(pairs: readonly string[], option: string): Record<string, string> {
  return Object.fromEntries(pairs.map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--${option}: expected KEY=VALUE, got ${pair}`);
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  }));
}
const lbEnv = settings(values.env!, 'env');
const againstEnv = settings(values['against-env']!, 'against-env');
/** The Node.js binary the measured targets run on. */
const targetNode = values.node ?? process.env.BENCH_NODE ?? process.execPath;
const targetNodeVersion = spawnSync(targetNode, ['--version'], { encoding: 'utf8' }).stdout?.trim();
if (!targetNodeVersion) throw new Error(`--node: ${targetNode} is not a Node.js binary that runs here`);

/** The routed targets' routes, and the requests every target gets when they run (else `/`). */
const routesFile = values.routed && !h2 ? writeRoutes(workDir) : undefined;
const mix = values.routed && !h2 ? routeRequests() : undefined;

interface Result { target: string; rps: number; p50: number; p99: number; cpuUsPerReq: number; peakRssMiB: number; errors: number }

interface Target { name: string; command: string[]; env: Record<string, string>; port: number; floorClient?: boolean; floor?: boolean; scrape?: boolean | undefined; peer?: boolean; h2load?: H2LoadShape }

let targets: Target[] = [
  { name: 'direct', command: [], env: {}, port: BACKEND_PORTS[0]! },
  { name: 'baseline (undici)', command: [targetNode, join(here, 'baseline.js')], env: { BENCH_PORT: String(PROXY_PORT), BENCH_BACKENDS: BACKEND_PORTS.map((p) => `127.0.0.1:${p}`).join(',') }, port: PROXY_PORT },
  {
    name: 'load-balancer', command: [targetNode, cli], port: PROXY_PORT,
    env: {
      PORT: String(PROXY_PORT), HOST: '127.0.0.1', STRATEGY: values.strategy!, BACKENDS: BACKEND_PORTS.map((p) => `http://127.0.0.1:${p}`).join(','),
      ...(values.admin ? { ADMIN_PORT: String(ADMIN_PORT) } : {}),
      ...lbEnv,
    },
    scrape: values.admin,
  },
  // The same build on the node engine (node:http and undici; the default is the fast one), unless the settings pick an engine.
  ...(lbEnv.ENGINE !== undefined ? [] : [{
    name: 'load-balancer (node)', command: [targetNode, cli], port: PROXY_PORT,
    env: { PORT: String(PROXY_PORT), HOST: '127.0.0.1', STRATEGY: values.strategy!, BACKENDS: BACKEND_PORTS.map((p) => `http://127.0.0.1:${p}`).join(','), ...lbEnv, ENGINE: 'node' },
  }]),
  ...(values.peers ? peerTargets() : []),
  ...(values.against === undefined ? [] : [{
    name: 'load-balancer (against)', command: [targetNode, values.against], port: PROXY_PORT,
    env: { PORT: String(PROXY_PORT), HOST: '127.0.0.1', STRATEGY: values.strategy!, BACKENDS: BACKEND_PORTS.map((p) => `http://127.0.0.1:${p}`).join(','), ...againstEnv },
  }]),
  // The floor: what Node's HTTP machinery costs without any proxying, each side alone.
  ...(values.floor ? [
    { name: 'floor: node:http', command: [targetNode, join(here, 'floor-server.js')], env: { BENCH_PORT: String(PROXY_PORT) }, port: PROXY_PORT, floor: true },
    { name: 'floor: undici client', command: [], env: {}, port: BACKEND_PORTS[0]!, floorClient: true, floor: true },
    // A raw-socket server (no HTTP machinery): the lower bound of each side of the fast engine (docs/performance.md).
    { name: 'floor: net server', command: [targetNode, join(here, 'floor-net.js')], env: { BENCH_PORT: String(PROXY_PORT) }, port: PROXY_PORT, floor: true },
  ] : []),
];

/** The target the others' ratios are taken against. */
let baseName = targets.find((t) => t.name.startsWith('baseline'))!.name;
if (h2) {
  const setup = h2Targets({
    client: h2Client, connections, streams, workDir, balancer: [targetNode, cli], scrape: values.admin!, proxyPort: PROXY_PORT, backendPorts: BACKEND_PORTS,
    ...(values.floor ? { floor: [targetNode, join(here, 'h2-floor.js')] } : {}),
    ...(values.against === undefined ? {} : { against: { command: [targetNode, values.against], env: againstEnv } }),
    lbEnv: { PORT: String(PROXY_PORT), HOST: '127.0.0.1', STRATEGY: values.strategy!, ...(values.admin ? { ADMIN_PORT: String(ADMIN_PORT) } : {}), ...lbEnv },
  });
  targets = setup.targets;
  baseName = setup.base;
}
if (values.policies && !h2) {
  // The policy targets beside today's defaults (bench/policies.ts): the same build and settings, each policy on or off.
  const balancer = targets.find((t) => t.name === 'load-balancer')!;
  targets.splice(targets.indexOf(balancer) + 1, 0, ...policyEnvs(balancer.env).map(({ name, env }) => ({ ...balancer, name, env })));
}
if (routesFile !== undefined) {
  const after = Math.max(...['load-balancer', 'load-balancer (node)'].map((name) => targets.findIndex((t) => t.name === name))) + 1;
  targets.splice(after, 0, ...routedTargets(routesFile));
}
if (values.only !== undefined) {
  const only = new RegExp(values.only);
  targets = targets.filter((t) => only.test(t.name) || t.name === baseName);
}

/**
 * Each engine's target again, with the same settings and the same default pool, plus the routes:
 * the pool, its connections and its health checks are those of the single-pool target, so the
 * difference is the router alone.
 */
function routedTargets(file: string): Target[] {
  return targets.filter((t) => t.name === 'load-balancer' || t.name === 'load-balancer (node)').map((t) => ({
    ...t, name: t.name === 'load-balancer' ? 'load-balancer (routed)' : 'load-balancer (node, routed)', command: [...t.command, '--config', file],
  }));
}

/**
 * nginx, HAProxy and Caddy as a user would run them in front of the same backends: round robin,
 * upstream keep-alive, no access log, one worker (on the proxy's one core).
 */
function peerTargets(): Target[] {
  const upstreams = BACKEND_PORTS.map((p) => `127.0.0.1:${p}`);
  const found: Target[] = [];
  const missing: string[] = [];
  const has = (bin: string): boolean => spawnSync(bin, ['-v']).error === undefined;
  const version = (bin: string, arg: string): string => {
    const r = spawnSync(bin, [arg], { encoding: 'utf8' });
    return /(\d+\.\d+(\.\d+)?)/.exec(`${r.stdout ?? ''} ${r.stderr ?? ''}`)?.[1] ?? '';
  };
  if (has('nginx')) {
    writeFileSync(join(workDir, 'nginx.conf'), [
      'worker_processes 1;', 'daemon off;', `pid ${join(workDir, 'nginx.pid')};`, 'error_log stderr error;',
      'events { worker_connections 4096; }',
      'http {', '  access_log off;', `  client_body_temp_path ${workDir};`, `  proxy_temp_path ${workDir};`,
      `  upstream backends { ${upstreams.map((u) => `server ${u};`).join(' ')} keepalive 64; }`,
      `  server { listen 127.0.0.1:${PROXY_PORT}; location / { proxy_pass http://backends; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
      '}', '',
    ].join('\n'));
    found.push({ name: `nginx ${version('nginx', '-v')}`, command: ['nginx', '-p', workDir, '-c', join(workDir, 'nginx.conf')], env: {}, port: PROXY_PORT, peer: true });
  } else missing.push('nginx');
  if (has('haproxy')) {
    writeFileSync(join(workDir, 'haproxy.cfg'), [
      'global', '  nbthread 1',
      'defaults', '  mode http', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s', '  option http-keep-alive',
      'frontend lb', `  bind 127.0.0.1:${PROXY_PORT}`, '  default_backend backends',
      'backend backends', '  balance roundrobin', '  http-reuse always',
      ...upstreams.map((u, i) => `  server b${i + 1} ${u}`), '',
    ].join('\n'));
    found.push({ name: `haproxy ${version('haproxy', '-v')}`, command: ['haproxy', '-db', '-f', join(workDir, 'haproxy.cfg')], env: {}, port: PROXY_PORT, peer: true });
  } else missing.push('haproxy');
  if (spawnSync('caddy', ['version']).error === undefined) {
    writeFileSync(join(workDir, 'Caddyfile'), [
      '{', '\tadmin off', '\tauto_https off', '\tlog default {', '\t\tlevel ERROR', '\t}', '}', '',
      `http://127.0.0.1:${PROXY_PORT} {`, `\treverse_proxy ${upstreams.join(' ')} {`, '\t\tlb_policy round_robin', '\t}', '}', '',
    ].join('\n'));
    // Go sizes its thread pool from the CPUs it may use: the one it is pinned to.
    found.push({ name: `caddy ${version('caddy', 'version')}`, command: ['caddy', 'run', '--config', join(workDir, 'Caddyfile'), '--adapter', 'caddyfile'], env: { HOME: workDir }, port: PROXY_PORT, peer: true });
  } else missing.push('caddy');
  if (missing.length > 0) process.stderr.write(`bench: not installed, left out: ${missing.join(', ')} (apt-get install ${missing.join(' ')})\n`);
  return found;
}

function pinned(cpu: string, command: string[]): string[] {
  return pin ? ['taskset', '-c', cpu, ...command] : command;
}

/**
 * Starts a process; its standard output (the balancer's logs) goes to `logFile`, as a user would
 * run it, and so does a peer's standard error (where nginx and Caddy log).
 */
function start(command: string[], env: Record<string, string>, logFile?: string, errorsToLog = false): ChildProcess {
  const [file, ...args] = command;
  const out = logFile === undefined ? 'ignore' : openSync(logFile, 'a');
  return spawn(file!, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', out, errorsToLog ? out : 'inherit'] });
}

/** Whether something accepts connections on 127.0.0.1:port. */
function isOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

async function waitForPort(port: number, deadlineMs = 10_000): Promise<void> {
  const until = performance.now() + deadlineMs;
  for (;;) {
    if (await isOpen(port)) return;
    if (performance.now() > until) throw new Error(`port ${port} did not open`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** utime + stime of a process and every descendant alive now (nginx's workers), in clock ticks. */
function cpuTicks(pid: number): number {
  let ticks = 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    ticks = Number(fields[11]) + Number(fields[12]);
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean)) ticks += cpuTicks(Number(child));
    }
  } catch {
    // The process (a short-lived child) is gone.
  }
  return ticks;
}

function peakRss(pid: number): number {
  const kib = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return kib / 1024;
}

const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim() || 100);

interface LoadResult { requests: number; errors: number; p50: number; p99: number; seconds: number; cpuUs?: number }

async function load(port: number, seconds: number, nodeClientOnCpu?: string): Promise<LoadResult> {
  const url = `http://127.0.0.1:${port}/`;
  if (useWrk && nodeClientOnCpu === undefined) {
    // wrk sends one request over and over: with routes, the one in the middle of the mix.
    const one = mix === undefined ? undefined : middleRequest();
    const shape = one === undefined ? [url] : ['-H', `Host: ${one.slice(0, one.indexOf('/'))}`, `http://127.0.0.1:${port}${one.slice(one.indexOf('/'))}`];
    const [file, ...args] = pinned(loadCpus, ['wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...shape]);
    const wrk = spawn(file!, args);
    let out = '';
    wrk.stdout!.on('data', (c) => { out += c; });
    await once(wrk, 'close');
    const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
    const ms = (label: string): number => {
      const m = new RegExp(`\\s${label}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
      if (!m) return 0;
      return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
    };
    // wrk: `Socket errors: connect N, read N, write N, timeout N`: all of them count.
    const socketErrors = /Socket errors: (.*)/.exec(out)?.[1] ?? '';
    const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + [...socketErrors.matchAll(/\d+/g)].reduce((n, m) => n + Number(m[0]), 0);
    return { requests, errors, p50: ms('50'), p99: ms('99'), seconds };
  }
  const fixed = nodeClientOnCpu === undefined ? rate : 0; // the client floor is always measured flat out
  const [file, ...args] = pinned(nodeClientOnCpu ?? loadCpus, [nodeClientOnCpu === undefined ? process.execPath : targetNode, join(here, 'loadgen.js'), url, String(seconds), String(connections), String(fixed),
    // The floors stay on their own plain request.
    ...(mix !== undefined && nodeClientOnCpu === undefined ? [mix.join(',')] : [])]);
  const gen = spawn(file!, args, { env: { ...process.env, BENCH_ACCEPT_ENCODING: values['accept-encoding'] ?? '' } });
  let out = '';
  gen.stdout!.on('data', (c) => { out += c; });
  await once(gen, 'close');
  return JSON.parse(out) as LoadResult;
}

async function scrape(): Promise<void> {
  try {
    const res = await fetch(`http://127.0.0.1:${ADMIN_PORT}/metrics`);
    if (!(await res.text()).includes('lb_requests_total')) throw new Error('no lb_requests_total');
  } catch (err) {
    process.stderr.write(`bench: scraping /metrics failed: ${(err as Error).message} ${String((err as { cause?: unknown }).cause ?? '')}\n`);
  }
}

const h2load = h2 ? new H2Load((command) => pinned(loadCpus, command), join(workDir, 'h2load.log')) : undefined;

/** The load of `target`: h2load's when it has a shape for it, else wrk's or bench/loadgen's. */
function loadOf(target: Target, seconds: number): Promise<LoadResult> {
  return target.h2load === undefined || h2load === undefined ? load(target.port, seconds) : h2load.run(target.name, target.h2load, seconds);
}

async function measure(target: Target): Promise<Result> {
  let proc: ChildProcess | undefined;
  // Listened for from the start: a target that exits at once (a bad option) must not be waited for again.
  let exited: Promise<unknown> | undefined;
  if (target.command.length > 0) {
    proc = start(pinned(proxyCpu, target.command), target.env, join(workDir, `${target.name.replace(/\W+/g, '-')}.log`), target.peer === true);
    exited = once(proc, 'exit');
  }
  try {
    // A busy machine can take seconds to start one (1,000 routes to compile); a target that never opens is still stopped.
    if (proc !== undefined) await waitForPort(target.port, 30_000);
    if (target.floorClient === true) {
      // The undici client alone, on the proxy's core, against a backend: its own CPU per request.
      await load(target.port, Number(values.warmup), proxyCpu);
      const r = await load(target.port, duration, proxyCpu);
      return { target: target.name, rps: r.requests / r.seconds, p50: r.p50, p99: r.p99, cpuUsPerReq: (r.cpuUs ?? 0) / Math.max(1, r.requests), peakRssMiB: 0, errors: r.errors };
    }
    await loadOf(target, Number(values.warmup));
    const pid = proc?.pid;
    const before = pid === undefined ? 0 : cpuTicks(pid);
    // As Prometheus would, a little more often than its usual 15 s: the scrapes' cost is counted.
    let scraping: Promise<void> | undefined;
    const scraper = target.scrape === true ? setInterval(() => { scraping = scrape(); }, SCRAPE_EVERY_MS) : undefined;
    const result = await loadOf(target, duration);
    clearInterval(scraper);
    // A scrape still in flight ends before the balancer is stopped (else it reads a reset).
    await scraping;
    const after = pid === undefined ? 0 : cpuTicks(pid);
    const cpuUs = ((after - before) / TICKS_PER_SECOND) * 1e6;
    return {
      target: target.name,
      rps: result.requests / result.seconds,
      p50: result.p50,
      p99: result.p99,
      // No responses, no CPU per request (not the whole CPU time over one).
      cpuUsPerReq: pid === undefined || result.requests === 0 ? 0 : cpuUs / result.requests,
      peakRssMiB: pid === undefined ? 0 : peakRss(pid),
      errors: result.errors,
    };
  } finally {
    if (proc !== undefined) {
      proc.kill('SIGTERM');
      await exited;
    }
  }
}

// Ports held by something else would silently measure that something instead.
for (const port of [PROXY_PORT, ADMIN_PORT, ...BACKEND_PORTS, ...(h2 ? H2_BACKEND_PORTS : [])]) {
  if (await isOpen(port)) {
    process.stderr.write(`bench: port ${port} is already in use on 127.0.0.1; stop what listens there and run again\n`);
    process.exit(1);
  }
}
const backends = start(pinned(loadCpus, [process.execPath, join(here, 'backend.js')]), {
  BENCH_BACKEND_PORTS: BACKEND_PORTS.join(','), BENCH_BODY: String(bodySize),
  // Compression runs answer JSON-like text: a body of one repeated byte would compress too well.
  BENCH_BODY_KIND: values['accept-encoding'] === undefined ? 'fill' : 'text',
});
const h2Backends = h2 ? start(pinned(loadCpus, [process.execPath, join(here, 'h2-backend.js')]), {
  BENCH_H2_BACKEND_PORTS: H2_BACKEND_PORTS.join(','), BENCH_BODY: String(bodySize),
}) : undefined;
let finished = false;
for (const proc of [backends, h2Backends]) {
  proc?.once('exit', (code, signal) => {
    if (finished) return;
    process.stderr.write(`bench: the backends exited (${signal ?? code}) before the run ended\n`);
    process.exit(1);
  });
}
try {
  await Promise.all([...BACKEND_PORTS, ...(h2 ? H2_BACKEND_PORTS : [])].map((p) => waitForPort(p)));
  const rounds: Result[][] = [];
  // The judged targets take turns going first; the floors are reference points, measured once.
  const judged = targets.filter((t) => t.floor !== true);
  const floors = targets.filter((t) => t.floor === true);
  for (let r = 0; r < Number(values.rounds); r++) {
    const order = [...judged.map((_, i) => judged[(i + r) % judged.length]!), ...(r === 0 ? floors : [])];
    const results: Result[] = [];
    for (const target of order) results.push(await measure(target));
    rounds.push(results);
  }
  const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
  const summary = targets.map((t) => {
    const rs = rounds.map((round) => round.find((x) => x.target === t.name)).filter((x) => x !== undefined);
    return { target: t.name, rps: median(rs.map((x) => x.rps)), p50: median(rs.map((x) => x.p50)), p99: median(rs.map((x) => x.p99)),
      cpuUsPerReq: median(rs.map((x) => x.cpuUsPerReq)), peakRssMiB: median(rs.map((x) => x.peakRssMiB)), errors: rs.reduce((n, x) => n + x.errors, 0) };
  });
  const base = summary.find((s) => s.target === baseName)!;
  const checks = routedChecks(summary, rounds);
  const versus = h2 ? h2Checks(summary, rounds) : [];
  const policies = policyChecks(summary, rounds);
  const meta = { node: targetNodeVersion, cpus, pinned: pin, loadgen: h2 ? 'h2load' : useWrk ? 'wrk' : 'node', rate: rate > 0 ? rate : 'max', duration, connections, body: values.body, strategy: values.strategy, rounds: Number(values.rounds),
    requests: mix === undefined ? '/' : `${mix.length} hosts, /p0/x … /p9/x`, ...(h2 ? { h2: { client: h2Client, streams, base: baseName } } : {}) };
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ meta, results: summary, rounds, routed: checks, ...(h2 ? { h2: versus } : {}), ...(policies.length > 0 ? { policies } : {}) }, null, 2)}\n`);
  } else {
    process.stdout.write(`${JSON.stringify(meta)}\n\n`);
    if (h2) process.stdout.write(`× base: against ${baseName}\n`);
    process.stdout.write(`${'target'.padEnd(30)}${'req/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'CPU-µs/req'.padStart(12)}${'× base'.padStart(8)}${'p99 × base'.padStart(12)}${'peak RSS'.padStart(10)}${'errors'.padStart(8)}\n`);
    for (const s of summary) {
      const ratio = s.cpuUsPerReq > 0 ? (s.cpuUsPerReq / base.cpuUsPerReq).toFixed(2) : '-';
      process.stdout.write(`${s.target.padEnd(30)}${s.rps.toFixed(0).padStart(10)}${s.p50.toFixed(2).padStart(9)}${s.p99.toFixed(2).padStart(9)}${(s.cpuUsPerReq > 0 ? s.cpuUsPerReq.toFixed(1) : '-').padStart(12)}${ratio.padStart(8)}${(s.p99 / base.p99).toFixed(2).padStart(12)}${(s.peakRssMiB > 0 ? `${s.peakRssMiB.toFixed(0)} MiB` : '-').padStart(10)}${String(s.errors).padStart(8)}\n`);
    }
    if (rounds.length > 1) {
      // Medians above; the round-by-round ratios show how much of a difference is noise.
      const perRound = (pick: (x: Result) => number): string => rounds.map((round) => {
        const b = round.find((x) => x.target === base.target)!;
        const l = round.find((x) => x.target === 'load-balancer')!;
        return (pick(l) / pick(b)).toFixed(2);
      }).join(' ');
      if (targets.some((t) => t.name === 'load-balancer')) process.stdout.write(`\nload-balancer × baseline, round by round: CPU-µs/req ${perRound((x) => x.cpuUsPerReq)}; p99 ${perRound((x) => x.p99)}\n`);
      if (targets.some((t) => t.name === 'load-balancer (node)')) {
        const fast = (pick: (x: Result) => number): string => rounds.map((round) => {
          const b = round.find((x) => x.target === base.target)!;
          const f = round.find((x) => x.target === 'load-balancer (node)')!;
          return (pick(f) / pick(b)).toFixed(2);
        }).join(' ');
        process.stdout.write(`load-balancer (node) × baseline, round by round: CPU-µs/req ${fast((x) => x.cpuUsPerReq)}; p99 ${fast((x) => x.p99)}\n`);
      }
      if (values.against !== undefined && targets.some((t) => t.name === 'load-balancer')) {
        const vs = (pick: (x: Result) => number): string => rounds.map((round) => {
          const a = round.find((x) => x.target === 'load-balancer (against)')!;
          const l = round.find((x) => x.target === 'load-balancer')!;
          return (pick(l) / pick(a)).toFixed(2);
        }).join(' ');
        process.stdout.write(`load-balancer × against, round by round: CPU-µs/req ${vs((x) => x.cpuUsPerReq)}; p99 ${vs((x) => x.p99)}\n`);
      }
    }
    if (checks.length > 0) process.stdout.write(`\n${describeChecks(checks)}\n`);
    if (versus.length > 0) process.stdout.write(`\n${describeH2Checks(versus)}\n`);
    if (policies.length > 0) process.stdout.write(`\n${describePolicyChecks(policies, bodySize, /\bgzip\b/.test(values['accept-encoding'] ?? ''))}\n`);
  }
} finally {
  finished = true;
  backends.kill('SIGTERM');
  h2Backends?.kill('SIGTERM');
}
