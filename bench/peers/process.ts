/**
 * Starting, watching and stopping the targets of `npm run bench:peers`: CPU time and resident
 * memory summed over a process and its descendants (nginx's master and worker), read from /proc.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { openSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism } from 'node:os';

const cpus = availableParallelism();
/** Pinning needs 2 CPUs and taskset: the target alone on the last, the rest for the clients and backends. */
export const PINNED = cpus >= 2 && spawnSync('taskset', ['--version']).status === 0;
export const TARGET_CPU = String(cpus - 1);
export const LOAD_CPUS = `0-${Math.max(0, cpus - 2)}`;
const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim() || 100);

/** `command` run on `cpu` (a taskset list) when pinning is possible. */
export function pinned(cpu: string, command: readonly string[]): string[] {
  return PINNED ? ['taskset', '-c', cpu, ...command] : [...command];
}

/** Starts a process; its standard output and error go to `logFile` (the balancer logs to standard output). */
export function start(command: readonly string[], env: Record<string, string>, logFile: string): ChildProcess {
  const [file, ...args] = command;
  const out = openSync(logFile, 'a');
  return spawn(file!, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', out, out] });
}

/** Stops a process started here (by its own handle) and waits for it to exit. */
export async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Whether something accepts connections on 127.0.0.1:port. */
export function isOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

/** Waits (bounded) until 127.0.0.1:port accepts connections. */
export async function waitForPort(port: number, deadlineMs = 30_000): Promise<void> {
  const until = performance.now() + deadlineMs;
  for (;;) {
    if (await isOpen(port)) return;
    if (performance.now() > until) throw new Error(`port ${port} did not open`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The pids of a process and every descendant alive now. */
function tree(pid: number): number[] {
  const pids = [pid];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean)) pids.push(...tree(Number(child)));
    }
  } catch {
    // Gone (a short-lived child).
  }
  return pids;
}

/** User + system CPU time of a process tree, in µs. */
export function cpuUs(pid: number): number {
  let ticks = 0;
  for (const p of tree(pid)) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Gone.
    }
  }
  return (ticks / TICKS_PER_SECOND) * 1e6;
}

/** Resident memory of a process tree now (VmRSS summed; pages shared by nginx's master and worker count twice), in MiB. */
export function rssMiB(pid: number): number {
  let kib = 0;
  for (const p of tree(pid)) {
    try {
      kib += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // Gone.
    }
  }
  return kib / 1024;
}

/** The `[0-9.]+` version a binary prints for `arg`, '' if none; undefined when the binary is not installed. */
export function versionOf(bin: string, arg: string): string | undefined {
  const r = spawnSync(bin, [arg], { encoding: 'utf8' });
  if (r.error !== undefined) return undefined;
  return /(\d+\.\d+(\.\d+)?)/.exec(`${r.stdout ?? ''} ${r.stderr ?? ''}`)?.[1] ?? '';
}
