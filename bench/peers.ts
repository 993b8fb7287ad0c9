/**
 * `npm run bench:peers`: the balancer beside nginx, HAProxy and Caddy (each one installed) on
 * the paths users run, mode by mode (bench/peers/modes.ts; `--help` lists them): body sizes,
 * 50 or 1,000 connections, kept-alive or a new connection per request, HTTPS kept-alive and
 * with a handshake per request (resumed or full), HTTP/2 to clients, a 1 MiB upload, latency at
 * a fixed 50% of nginx's measured maximum rate, and memory with 10,000 idle clients. Each target
 * runs alone on the last CPU (taskset); the backends and the clients share the others. Every
 * figure is the median of `--rounds` rounds in which the targets take turns going first; the
 * CPU-µs per request is the target's whole process tree's user+system time over the measured
 * window divided by the requests answered, with its ratio to nginx's in the same run.
 *
 *   npm run bench:peers -- --mode 6b,64k,tls-full --rounds 3 --duration 10
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request as httpGet } from 'node:http';
import { request as httpsGet } from 'node:https';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { Clients, openIdle } from './peers/load.js';
import { helpText, parseModes, UnknownModeError, type Mode } from './peers/modes.js';
import { cpuUs, isOpen, LOAD_CPUS, PINNED, pinned, rssMiB, start, stop, TARGET_CPU, waitForPort } from './peers/process.js';
import { formatTable, medianRow, type Row } from './peers/table.js';
import { benchTargets, makeCertificate, type Target } from './peers/targets.js';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', multiple: true, default: [] },
    rounds: { type: 'string', default: '1' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    node: { type: 'string' },
    idle: { type: 'string', default: '10000' },
    only: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(`${helpText()}\n`);
  process.exit(0);
}
let modes: Mode[];
try {
  modes = parseModes(values.mode!);
} catch (err) {
  if (!(err instanceof UnknownModeError)) throw err;
  process.stderr.write(`bench: ${err.message}; --help lists them\n`);
  process.exit(2);
}
const rounds = Number(values.rounds);
const duration = Number(values.duration);
const warmup = Number(values.warmup);
const idleClients = Number(values.idle);
for (const [name, n] of [['rounds', rounds], ['duration', duration], ['idle', idleClients]] as const) {
  if (!(n > 0)) throw new Error(`--${name}: expected a positive number, got ${values[name]}`);
}
if (!(warmup >= 0)) throw new Error(`--warmup: expected seconds, got ${values.warmup}`);

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const PORT = 19200;
const BACKEND_PORTS = [19201, 19202, 19203];
const node = values.node ?? process.env.BENCH_NODE ?? process.execPath;
const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout?.trim();
if (!nodeVersion) throw new Error(`--node: ${node} is not a Node.js binary that runs here`);
const workDir = mkdtempSync(join(tmpdir(), 'lb-bench-peers-'));
const say = (line: string): void => { process.stderr.write(`${line}\n`); };
const installed = (bin: string, arg: string): boolean => spawnSync(bin, [arg]).error === undefined;

const certificate = makeCertificate(workDir);
const targets = benchTargets({ workDir, port: PORT, backendPorts: BACKEND_PORTS, cli, node, cert: certificate?.cert ?? '', key: certificate?.key ?? '' }, say);
if (values.only !== undefined) {
  const only = new RegExp(values.only);
  targets.splice(0, targets.length, ...targets.filter((t) => only.test(t.name)));
}
const nginx = targets.find((t) => t.isNginx);
const clients = new Clients(workDir, join(here, 'loadgen.js'));

/** Why `mode` cannot run here (a client or openssl missing), else undefined. */
function unrunnable(mode: Mode): string | undefined {
  if ((mode.driver === 'wrk' || mode.driver === 'rate') && !installed('wrk', '--version')) return 'needs wrk (apt-get install wrk)';
  if (mode.listen === 'tls' && certificate === undefined) return 'needs openssl to make its certificate (apt-get install openssl)';
  if (mode.driver === 'h2load' && !installed('h2load', '--version')) return 'needs h2load (apt-get install nghttp2-client)';
  return undefined;
}

/** One GET answered 200 with the mode's body size, else what went wrong. */
function check(mode: Mode): Promise<string | undefined> {
  return new Promise((resolve) => {
    const get = mode.listen === 'tls' ? httpsGet : httpGet;
    const headers = mode.gzip ? { 'accept-encoding': 'gzip' } : {};
    const req = get({ host: '127.0.0.1', port: PORT, path: '/', headers, agent: false, rejectUnauthorized: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => { chunks.push(c); });
      res.on('end', () => {
        // The gzip mode measures compression: a target that sends the body as it is fails the check.
        const gzipped = res.headers['content-encoding'] === 'gzip';
        if (mode.gzip && !gzipped) return resolve(`answered ${res.statusCode} without Content-Encoding: gzip`);
        const bytes = gzipped ? gunzipSync(Buffer.concat(chunks)).length : Buffer.concat(chunks).length;
        resolve(res.statusCode === 200 && bytes === mode.body ? undefined : `answered ${res.statusCode} with ${bytes} B`);
      });
      res.on('error', (err) => resolve(err.message));
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', (err) => resolve(`no answer: ${err.message}`));
    req.end();
  });
}

const empty = (target: string, note?: string): Row => ({
  target, rps: 0, p50: 0, p99: 0, p999: 0, cpuUsPerReq: 0, rssMiB: 0, idleRssMiB: 0, errors: 0, clients: 0, ...(note === undefined ? {} : { note }),
});
const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts `target` for `mode`, measures it once, stops it. */
async function measure(target: Target, mode: Mode, rate: number): Promise<Row> {
  const launch = target.launch(mode.listen, mode.gzip);
  let proc: ChildProcess;
  try {
    proc = start(pinned(TARGET_CPU, launch.command), launch.env, join(workDir, `${target.name.replace(/\W+/g, '-')}.log`));
  } catch (err) {
    // spawn() throws some errors (ELOOP, EAGAIN on a busy machine) instead of emitting them: one row lost, not the run.
    return empty(target.name, `did not start: ${(err as Error).message}`);
  }
  const exited = once(proc, 'exit').then(() => { throw new Error(`exited at start (log in ${workDir})`); });
  exited.catch(() => {});
  try {
    await Promise.race([waitForPort(PORT), exited]);
    const wrong = await check(mode);
    if (wrong !== undefined) return empty(target.name, wrong);
    const pid = proc.pid!;
    if (mode.driver === 'idle') {
      await settle(1000);
      const idleRssMiB = rssMiB(pid);
      const before = cpuUs(pid);
      const { sockets, errors } = await openIdle(PORT, idleClients);
      const cpu = cpuUs(pid) - before;
      await settle(1000);
      const row = { ...empty(target.name), idleRssMiB, rssMiB: rssMiB(pid), cpuUsPerReq: cpu / Math.max(1, sockets.length), errors, clients: sockets.length };
      for (const s of sockets) s.destroy();
      return row;
    }
    if (warmup > 0) await clients.run(mode, target.name, PORT, warmup, rate);
    const before = cpuUs(pid);
    const r = await clients.run(mode, target.name, PORT, duration, rate);
    const cpu = cpuUs(pid) - before;
    if (r.requests === 0) return empty(target.name, `no answers${r.problem === undefined ? '' : ` (${r.problem})`}`);
    return {
      ...empty(target.name), rps: r.requests / r.seconds, p50: r.p50, p99: r.p99, p999: r.p999,
      cpuUsPerReq: r.requests === 0 ? 0 : cpu / r.requests, rssMiB: rssMiB(pid), errors: r.errors,
      ...(r.resumed === undefined ? {} : { resumed: r.resumed / r.requests }),
    };
  } catch (err) {
    return empty(target.name, (err as Error).message);
  } finally {
    await stop(proc);
  }
}

/**
 * The latency mode's rate: half of nginx's maximum (else the first target's) measured now by the
 * same Node load generator in a closed loop (6 B, 50 kept-alive connections), so the rate is one
 * the generator itself can keep on this machine.
 */
async function halfOfMaximum(mode: Mode): Promise<{ rate: number; of: string }> {
  const reference = nginx ?? targets[0]!;
  // The same client, closed loop: half of a maximum it can reach is a rate it can keep.
  const row = await measure(reference, mode, 0);
  if (row.rps === 0) throw new Error(`latency: ${reference.name} answered nothing at saturation${row.note === undefined ? '' : ` (${row.note})`}`);
  return { rate: Math.max(1, Math.floor(row.rps / 2)), of: reference.name };
}

for (const port of [PORT, ...BACKEND_PORTS]) {
  if (await isOpen(port)) {
    say(`bench: port ${port} is already in use on 127.0.0.1; stop what listens there and run again`);
    process.exit(1);
  }
}
const meta = {
  date: new Date().toISOString(), node: nodeVersion, cpus: availableParallelism(), pinned: PINNED ? { target: TARGET_CPU, clients: LOAD_CPUS } : false,
  loadavg: loadavg().map((x) => +x.toFixed(2)), rounds, duration, warmup, targets: targets.map((t) => t.name),
};
if (!values.json) process.stdout.write(`${JSON.stringify(meta)}\n`);
const report: Array<{ mode: string; summary: string; rate?: number; rateOf?: string; skipped?: string; results: Row[]; rounds: Row[][] }> = [];
for (const mode of modes) {
  const why = unrunnable(mode);
  if (why !== undefined) {
    say(`bench: mode ${mode.name} skipped: ${why}`);
    report.push({ mode: mode.name, summary: mode.summary, skipped: why, results: [], rounds: [] });
    continue;
  }
  const backends = start(pinned(LOAD_CPUS, [process.execPath, join(here, 'backend.js')]), { BENCH_BACKEND_PORTS: BACKEND_PORTS.join(','), BENCH_BODY: String(mode.body), ...(mode.gzip ? { BENCH_BODY_KIND: 'text' } : {}) }, join(workDir, 'backends.log'));
  try {
    await Promise.all(BACKEND_PORTS.map((p) => waitForPort(p)));
    const fixed = mode.driver === 'rate' ? await halfOfMaximum(mode) : undefined;
    const perRound: Row[][] = [];
    for (let r = 0; r < rounds; r++) {
      const results: Row[] = [];
      for (let i = 0; i < targets.length; i++) results.push(await measure(targets[(i + r) % targets.length]!, mode, fixed?.rate ?? 0));
      perRound.push(results);
    }
    const results = targets.map((t) => medianRow(perRound.map((round) => round.find((x) => x.target === t.name)!)));
    report.push({ mode: mode.name, summary: mode.summary, ...(fixed === undefined ? {} : { rate: fixed.rate, rateOf: fixed.of }), results, rounds: perRound });
    if (!values.json) {
      const rateLine = fixed === undefined ? '' : ` (${fixed.rate} req/s: half of ${fixed.of}'s maximum, measured just before)`;
      const memoryLine = mode.driver === 'idle' ? ` (${idleClients} clients)` : '';
      process.stdout.write(`\n### ${mode.name}: ${mode.summary}${rateLine}${memoryLine}\n\n${formatTable(results, nginx?.name, mode.driver === 'idle')}\n`);
      if (nginx === undefined) process.stdout.write('(no nginx in this run: no ratios)\n');
    }
  } finally {
    await stop(backends);
  }
}
if (values.json) process.stdout.write(`${JSON.stringify({ meta, modes: report }, null, 2)}\n`);
