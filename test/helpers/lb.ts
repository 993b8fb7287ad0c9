import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listen } from './ports.js';
import { spawnNode, untilPrinted } from './process.js';

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
  /**
   * Resolves with the first log line (past or future) that matches; rejects, with what the
   * process printed, when it exits first (or, as a last resort, after `timeoutMs`).
   */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves once standard output so far holds `text` (any format, pretty logs too); rejects when the process exits first. */
  waitForText(text: string): Promise<void>;
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
  /** The last-resort bound on the wait for 'listening' (default: two minutes). */
  readonly startTimeoutMs?: number;
  /** Ends the wait for 'listening' early: the process is then killed and the start rejects. */
  readonly signal?: AbortSignal;
}

/** A start that failed: the process (`pid`) was killed, with its group, before this was thrown. */
export class StartError extends Error {
  readonly code = 'LB_TEST_START_FAILED';
  constructor(message: string, readonly pid: number | undefined) {
    super(message);
    this.name = 'StartError';
  }
}

/**
 * The last-resort bound on a wait for a log line. Start-up waits end on the line or on the
 * process's exit, whichever comes first; this only turns a process that hangs silently into an
 * error that shows what it printed, well before the test's own timeout.
 */
const SAFETY_TIMEOUT_MS = 120_000;

/**
 * The engine the suite runs the CLI with: TEST_ENGINE=node runs every integration test against
 * the node engine, TEST_ENGINE=fast against the fast one (the default); a test that sets ENGINE
 * itself keeps its own.
 */
const ENGINE: Record<string, string> = process.env.TEST_ENGINE === undefined ? {} : { ENGINE: process.env.TEST_ENGINE };

/**
 * A test's options when its subject is not the engine (a configuration refused at start, what
 * `--check` prints): the node pass (TEST_ENGINE=node, see scripts/test.mjs) skips it, as it skips
 * a whole file marked `// @engine-independent`. Spread it into the test's own options if it has some.
 */
export const ENGINE_INDEPENDENT = { skip: process.env.TEST_ENGINE === 'node' ? 'engine-independent: run once, in the default pass' : false } as const;

/**
 * Spawns the real `lb` CLI listening on 127.0.0.1 with an ephemeral port. If it does not come up
 * (it exits first, the wait is aborted, or the safety timeout passes), it is killed with its
 * whole process group before this rejects: nothing is left for the caller to clean up.
 */
export async function startLb(env: Record<string, string>, options: StartOptions = {}): Promise<RunningLb> {
  const owned = spawnNode([options.script ?? CLI, ...(options.args ?? [])], {
    cwd: options.cwd ?? mkdtempSync(join(tmpdir(), 'lb-test-')),
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', HEALTH_CHECK_INTERVAL: '1h', ...ENGINE, ...env },
    stdin: options.script === undefined ? 'ignore' : 'pipe',
  });
  const { proc } = owned;
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
  // Closed, not just exited: standard output may still hold the last lines when the process exits.
  const exited = owned.closed;

  /** Rejects with the bare reason; callers add what the process printed. */
  const waitFor = (match: (l: LogLine) => boolean, timeoutMs = SAFETY_TIMEOUT_MS, signal?: AbortSignal): Promise<LogLine> => {
    const found = logs.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', aborted);
        const i = watchers.indexOf(w);
        if (i >= 0) watchers.splice(i, 1);
      };
      const fail = (why: string): void => { if (watchers.includes(w)) { settle(); reject(new Error(why)); } };
      const aborted = (): void => fail('the wait was aborted');
      const timer = setTimeout(() => fail(`no matching log line within ${timeoutMs} ms`), timeoutMs);
      const w = { match, resolve: (l: LogLine) => { settle(); resolve(l); } };
      watchers.push(w);
      signal?.addEventListener('abort', aborted, { once: true });
      if (signal?.aborted === true) aborted();
      void exited.then((code) => fail(`lb exited (${code}) first`));
    });
  };
  const withOutput = (error: Error): Error => new Error(`${error.message}; stdout:\n${out}\nstderr:\n${err}`);

  let port = Number(env.PORT ?? 0);
  if (options.waitListening !== false) {
    try {
      const line = await waitFor((l) => l.msg === 'listening', options.startTimeoutMs, options.signal);
      port = line.port as number;
    } catch (error) {
      // Killed first, so that the error shows all it printed up to its end.
      await owned.kill();
      throw new StartError(withOutput(error as Error).message, proc.pid);
    }
  }
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    logs,
    stdout: () => out,
    stderr: () => err,
    waitForLog: (match, timeoutMs) => waitFor(match, timeoutMs).catch((error: Error) => { throw withOutput(error); }),
    exited,
    async waitForText(text) {
      if (out.includes(text)) return;
      await untilPrinted(proc, () => out.includes(text)).catch(async () => { throw withOutput(new Error(`lb exited (${await exited}) first`)); });
    },
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
  const { proc, closed } = spawnNode([CLI, ...args], {
    cwd: cwd ?? mkdtempSync(join(tmpdir(), 'lb-test-')),
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
  });
  let stdout = '';
  let stderr = '';
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const code = await closed;
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
export function acceptedSockets(port: number, peers?: readonly number[]): { established: number; closeWait: number } {
  // The balancer's side only: 127.0.0.1:port as the local address (a server of another test on
  // ::1 or another address may have the same port number); given `peers`, only connections from
  // those client ports (sockets of an earlier listener on the same port may linger).
  const hex = (n: number): string => `0100007F:${n.toString(16).toUpperCase().padStart(4, '0')}`;
  const local = hex(port);
  const remotes = peers === undefined ? undefined : new Set(peers.map(hex));
  // The kernel writes the table in chunks, one read() each: on a busy machine a socket that moves
  // between reads can be listed twice (or missed). Each connection is counted once, by its peer.
  const established = new Set<string>();
  const closeWait = new Set<string>();
  let text = '';
  try { text = readFileSync('/proc/net/tcp', 'utf8'); } catch { return { established: 0, closeWait: 0 }; }
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] !== local || (remotes !== undefined && !remotes.has(fields[2]!))) continue;
    if (fields[3] === '01') established.add(fields[2]!);
    else if (fields[3] === '08') closeWait.add(fields[2]!);
  }
  return { established: established.size, closeWait: closeWait.size };
}
