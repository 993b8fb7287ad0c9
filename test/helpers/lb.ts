import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listen } from './ports.js';

export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export interface RunningLb {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly url: string;
  /** Parsed JSON log lines so far. */
  readonly logs: LogLine[];
  /** Raw standard output so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first log line (past or future) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends a signal and resolves with the exit code once the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  readonly exited: Promise<number | null>;
  /** Peak resident set size so far, in MiB (Linux VmHWM). */
  peakRssMiB(): number;
}

export interface StartOptions {
  readonly args?: readonly string[];
  readonly cwd?: string;
  /** Wait for the 'listening' line (default). With false, `port` is the PORT given in env. */
  readonly waitListening?: boolean;
  /** Another entry point than the `lb` CLI (a test fixture built on the library); its stdin is then a pipe. */
  readonly script?: string;
}

const running = new Set<ChildProcess>();
process.on('exit', () => { for (const p of running) p.kill('SIGKILL'); });

/**
 * The engine the suite runs the CLI with: TEST_ENGINE=fast runs every integration test against
 * the fast engine (a test that sets ENGINE itself keeps its own).
 */
const ENGINE = process.env.TEST_ENGINE === undefined ? {} : { ENGINE: process.env.TEST_ENGINE };

/** Spawns the real `lb` CLI listening on 127.0.0.1 with an ephemeral port. */
export async function startLb(env: Record<string, string>, options: StartOptions = {}): Promise<RunningLb> {
  const proc = spawn(process.execPath, [options.script ?? CLI, ...(options.args ?? [])], {
    cwd: options.cwd ?? mkdtempSync(join(tmpdir(), 'lb-test-')),
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', HEALTH_CHECK_INTERVAL: '1h', ...ENGINE, ...env },
    stdio: [options.script === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  running.add(proc);
  const logs: LogLine[] = [];
  const watchers: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let out = '';
  let err = '';
  let partial = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const text = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      let line: LogLine;
      try { line = JSON.parse(text) as LogLine; } catch { continue; }
      logs.push(line);
      for (const w of [...watchers]) {
        if (w.match(line)) { watchers.splice(watchers.indexOf(w), 1); w.resolve(line); }
      }
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => { err += chunk; });
  // 'close', not 'exit': standard output may still hold the last lines when the process exits.
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => { running.delete(proc); resolve(code); }));

  const waitForLog = (match: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const found = logs.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs}ms; stdout:\n${out}\nstderr:\n${err}`)), timeoutMs);
      const w = { match, resolve: (l: LogLine) => { clearTimeout(timer); resolve(l); } };
      watchers.push(w);
      void exited.then((code) => {
        if (watchers.includes(w)) { clearTimeout(timer); reject(new Error(`lb exited (${code}) first; stdout:\n${out}\nstderr:\n${err}`)); }
      });
    });
  };

  let port = Number(env.PORT ?? 0);
  if (options.waitListening !== false) {
    const line = await waitForLog((l) => l.msg === 'listening');
    port = line.port as number;
  }
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    logs,
    stdout: () => out,
    stderr: () => err,
    waitForLog,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
    peakRssMiB() {
      const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
      return kib / 1024;
    },
  };
}

/** Runs the CLI to completion (for config errors, --help, --version). */
export async function runLb(env: Record<string, string>, args: readonly string[] = [], cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [CLI, ...args], {
    cwd: cwd ?? mkdtempSync(join(tmpdir(), 'lb-test-')),
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
  proc.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const [code] = await once(proc, 'close') as [number | null];
  running.delete(proc);
  return { code, stdout, stderr };
}

/** A port that was free a moment ago (for runs that must know the port before start-up). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await listen(server, '127.0.0.1', 'dedicated');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Sockets a process has open now (Linux /proc). */
export function openSockets(pid: number): number {
  const dir = `/proc/${pid}/fd`;
  return readdirSync(dir).filter((fd) => { try { return readlinkSync(`${dir}/${fd}`).startsWith('socket:'); } catch { return false; } }).length;
}

/**
 * The balancer's accepted connections on its listening `port` that still hold a socket:
 * ESTABLISHED, or CLOSE-WAIT (the client closed, the balancer has not yet) (Linux /proc).
 */
export function acceptedSockets(port: number): { established: number; closeWait: number } {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const counts = { established: 0, closeWait: 0 };
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(table, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (!fields[1]?.endsWith(hex)) continue;
      if (fields[3] === '01') counts.established++;
      else if (fields[3] === '08') counts.closeWait++;
    }
  }
  return counts;
}
