/**
 * `npm run bench:workers`: what several worker processes cost per request, against one process.
 * Three targets take turns in each round: one process (WORKERS=0), WORKERS=2 with the primary's
 * hand-off (WORKER_LISTEN=shared: node:cluster's round robin, the primary accepts every
 * connection and passes it to a worker) and WORKERS=2 with a socket per worker
 * (WORKER_LISTEN=reuseport: the kernel spreads connections, the primary sees none). The load is
 * wrk with a new connection per request (`Connection: close`, the case where the hand-off costs
 * most) or, with `--keepalive`, kept-alive connections.
 *
 * CPU-µs per request is the CPU time (user + system) of the balancer's whole process tree over
 * the measured window divided by the requests; `primary µs` is the primary's part of it. The
 * processes run where the scheduler puts them, as workers are meant to (one per core); `--pin`
 * puts every process of the balancer on the last CPU (taskset; the backends and wrk on the
 * others), which adds to WORKERS=2 the cost of two event loops taking turns on one core.
 *
 *   npm run bench:workers -- --duration 10 --rounds 3 --connections 50 --node PATH [--keepalive] [--pin] [--json]
 *
 * Needs wrk (apt-get install wrk) and a Node.js with reusePort (22.12+ or 23.1+) for the
 * reuseport target (`--node`, or BENCH_NODE); without one that target is left out.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    node: { type: 'string' },
    keepalive: { type: 'boolean', default: false },
    pin: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
  allowNegative: true,
});
const duration = Number(values.duration);
const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const backendScript = fileURLToPath(new URL('./backend.js', import.meta.url));
const PORT = 19100;
const BACKEND_PORTS = [19101, 19102, 19103];
const node = values.node ?? process.env.BENCH_NODE ?? process.execPath;
const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
if (nodeVersion === '') throw new Error(`--node: ${node} is not a Node.js binary that runs here`);
if (spawnSync('wrk', ['--version']).error !== undefined) {
  process.stderr.write('bench: needs wrk (apt-get install wrk)\n');
  process.exit(1);
}
const [major = 0, minor = 0] = nodeVersion.slice(1).split('.').map(Number);
const reusePort = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
const cpus = availableParallelism();
const pin = values.pin! && cpus >= 2 && spawnSync('taskset', ['--version']).status === 0;
const lbCpu = String(cpus - 1);
const loadCpus = `0-${Math.max(0, cpus - 2)}`;
const pinned = (cpu: string, command: string[]): string[] => (pin ? ['taskset', '-c', cpu, ...command] : command);

interface Target { readonly name: string; readonly env: Record<string, string> }
const targets: Target[] = [
  { name: 'one process', env: { WORKERS: '0' } },
  { name: 'WORKERS=2 shared', env: { WORKERS: '2', WORKER_LISTEN: 'shared' } },
  ...(reusePort ? [{ name: 'WORKERS=2 reuseport', env: { WORKERS: '2', WORKER_LISTEN: 'reuseport' } }] : []),
];
if (!reusePort) process.stderr.write(`bench: Node.js ${nodeVersion} has no reusePort: the reuseport target is left out (--node a 22.12+ binary)\n`);

interface Result { target: string; rps: number; cpuUsPerReq: number; primaryUsPerReq: number; errors: number }

function isOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 600 && !(await isOpen(port)); i++) await new Promise((r) => setTimeout(r, 50));
  if (!(await isOpen(port))) throw new Error(`port ${port} did not open`);
}

/** utime + stime, in clock ticks, of a process and (with `tree`) of every descendant alive now. */
function cpuTicks(pid: number, tree: boolean): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    let ticks = Number(fields[11]) + Number(fields[12]);
    if (tree) {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean)) ticks += cpuTicks(Number(child), true);
      }
    }
    return ticks;
  } catch {
    return 0; // gone
  }
}
const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim() || 100);

async function wrk(seconds: number): Promise<{ requests: number; errors: number; seconds: number }> {
  const header = values.keepalive ? [] : ['-H', 'Connection: close'];
  const [file, ...args] = pinned(loadCpus, ['wrk', '-t1', `-c${values.connections}`, `-d${seconds}s`, ...header, `http://127.0.0.1:${PORT}/`]);
  const proc = spawn(file!, args);
  let out = '';
  proc.stdout!.on('data', (c) => { out += c; });
  await once(proc, 'close');
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: (.*)/.exec(out)?.[1] ?? '';
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + [...socketErrors.matchAll(/\d+/g)].reduce((n, m) => n + Number(m[0]), 0);
  return { requests, errors, seconds };
}

async function measure(target: Target): Promise<Result> {
  const [file, ...args] = pinned(lbCpu, [node, cli]);
  const proc: ChildProcess = spawn(file!, args, {
    env: { PATH: process.env.PATH ?? '', PORT: String(PORT), HOST: '127.0.0.1', BACKENDS: BACKEND_PORTS.map((p) => `http://127.0.0.1:${p}`).join(','), ACCESS_LOG: 'on', ...target.env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(proc, 'exit');
  try {
    await waitForPort(PORT);
    await wrk(Number(values.warmup));
    const pid = proc.pid!;
    const before = [cpuTicks(pid, true), cpuTicks(pid, false)];
    const r = await wrk(duration);
    const after = [cpuTicks(pid, true), cpuTicks(pid, false)];
    const us = (ticks: number): number => (ticks / TICKS_PER_SECOND) * 1e6 / Math.max(1, r.requests);
    return { target: target.name, rps: r.requests / r.seconds, cpuUsPerReq: us(after[0]! - before[0]!), primaryUsPerReq: target.env.WORKERS === '0' ? 0 : us(after[1]! - before[1]!), errors: r.errors };
  } finally {
    proc.kill('SIGTERM');
    await exited;
  }
}

for (const port of [PORT, ...BACKEND_PORTS]) {
  if (await isOpen(port)) {
    process.stderr.write(`bench: port ${port} is already in use on 127.0.0.1; stop what listens there and run again\n`);
    process.exit(1);
  }
}
const [backendFile, ...backendArgs] = pinned(loadCpus, [process.execPath, backendScript]);
const backends = spawn(backendFile!, backendArgs, { env: { BENCH_BACKEND_PORTS: BACKEND_PORTS.join(','), BENCH_BODY: '6' }, stdio: 'ignore' });
const load = loadavg();
try {
  await Promise.all(BACKEND_PORTS.map(waitForPort));
  const rounds: Result[][] = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    const results: Result[] = [];
    // The targets take turns going first.
    for (let i = 0; i < targets.length; i++) results.push(await measure(targets[(i + r) % targets.length]!));
    rounds.push(results);
  }
  const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
  const pick = (name: string): Result[] => rounds.map((round) => round.find((x) => x.target === name)!);
  const summary = targets.map((t) => {
    const rs = pick(t.name);
    return { target: t.name, rps: median(rs.map((x) => x.rps)), cpuUsPerReq: median(rs.map((x) => x.cpuUsPerReq)), primaryUsPerReq: median(rs.map((x) => x.primaryUsPerReq)), errors: rs.reduce((n, x) => n + x.errors, 0) };
  });
  const one = summary[0]!;
  const meta = { node: nodeVersion, cpus, pinned: pin, connections: Number(values.connections), requests: values.keepalive ? 'kept-alive' : 'a new connection each (Connection: close)', duration, rounds: rounds.length, loadavg: [...load, ...loadavg()].map((x) => Number(x.toFixed(2))) };
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ meta, results: summary, rounds }, null, 2)}\n`);
  } else {
    process.stdout.write(`${JSON.stringify(meta)}\n\n`);
    process.stdout.write(`${'target'.padEnd(24)}${'req/s'.padStart(9)}${'CPU-µs/req'.padStart(12)}${'× one'.padStart(8)}${'primary µs'.padStart(12)}${'errors'.padStart(8)}   round by round (× one)\n`);
    for (const s of summary) {
      const byRound = pick(s.target).map((x, i) => (x.cpuUsPerReq / rounds[i]!.find((y) => y.target === one.target)!.cpuUsPerReq).toFixed(2)).join(' ');
      process.stdout.write(`${s.target.padEnd(24)}${s.rps.toFixed(0).padStart(9)}${s.cpuUsPerReq.toFixed(1).padStart(12)}${(s.cpuUsPerReq / one.cpuUsPerReq).toFixed(2).padStart(8)}${s.primaryUsPerReq.toFixed(1).padStart(12)}${String(s.errors).padStart(8)}   ${byRound}\n`);
    }
  }
} finally {
  backends.kill('SIGTERM');
}
