/**
 * Processes a test spawns are owned from the moment they start: each gets a process group of
 * its own (so one kill reaches its cluster workers and any helper it started) and a lifeline to
 * the test process (so it dies with it), and every one still running is killed when the test
 * process exits. A test still stops its processes itself (`t.after`); this is what remains when
 * a test fails before it could.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';

const LIFELINE = new URL('../fixtures/lifeline.js', import.meta.url).href;

/** The descriptor the lifeline takes in the child: the first after standard error. */
const LIFELINE_FD = 3;

const running = new Set<ChildProcess>();
process.on('exit', () => { for (const proc of running) killGroup(proc); });

export interface OwnedProcess {
  readonly proc: ChildProcess;
  /**
   * Resolves with the exit code once the process has exited and every process holding its
   * standard output and error (its cluster workers too) has closed them: all it printed is read.
   */
  readonly closed: Promise<number | null>;
  /** Kills the process and its whole group with SIGKILL, and resolves once they have all closed. */
  kill(): Promise<void>;
}

export interface OwnedOptions {
  readonly cwd?: string;
  readonly env: Record<string, string>;
  /** Standard input: ignored unless a pipe is asked for. */
  readonly stdin?: 'ignore' | 'pipe';
}

/** Spawns `node <args>` with its standard output and error piped, owned as described above. */
export function spawnNode(args: readonly string[], options: OwnedOptions): OwnedProcess {
  const stdio: StdioOptions = [options.stdin ?? 'ignore', 'pipe', 'pipe', 'pipe'];
  const proc = spawn(process.execPath, ['--import', LIFELINE, ...args], {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: { ...options.env, LB_TEST_LIFELINE: String(LIFELINE_FD) },
    stdio,
    // A process group of its own (setsid), so that one kill reaches everything it started.
    detached: true,
  });
  running.add(proc);
  const closed = new Promise<number | null>((resolve) => proc.once('close', (code) => { running.delete(proc); resolve(code); }));
  // This end of the lifeline is only held open; it must not keep the test process alive.
  const lifeline = proc.stdio[LIFELINE_FD] as Socket | null;
  lifeline?.on('error', () => undefined).unref();
  return {
    proc,
    closed,
    async kill() {
      killGroup(proc);
      await closed;
    },
  };
}

/** SIGKILL to the process group (the child leads it); a group already gone is not an error. */
function killGroup(proc: ChildProcess): void {
  if (proc.pid === undefined) return;
  try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* already gone */ }
}

/** The kernel's flag for a task that has begun to exit (include/linux/sched.h). */
const PF_EXITING = 0x4;

/**
 * Whether a process is still running. One that has begun to exit counts as gone: its descriptors
 * close (which is what a test can wait for) before it turns into a zombie, and a zombie is gone
 * too, only not yet reaped by its parent.
 */
export function isRunning(pid: number): boolean {
  let stat: string;
  try { stat = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return false; }
  // The fields after the command name, which is in parentheses and may hold either itself:
  // state, ppid, pgrp, session, tty_nr, tpgid, flags, …
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] !== 'Z' && fields[0] !== 'X' && (Number(fields[6]) & PF_EXITING) === 0;
}

/**
 * Resolves with all `proc` has printed on standard output (from now on) once `done` holds for
 * it; rejects, with what it printed, when the process exits first. No timeout: a wait for a line
 * ends on the line or on the exit, and the test's own timeout is the last resort.
 */
export function untilPrinted(proc: ChildProcess, done: (text: string) => boolean): Promise<string> {
  let text = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer | string): void => {
      text += chunk.toString();
      if (done(text)) { settle(); resolve(text); }
    };
    const onClose = (code: number | null): void => { settle(); reject(new Error(`the process exited (${code}) first; stdout:\n${text}`)); };
    const settle = (): void => { proc.stdout!.off('data', onData); proc.off('close', onClose); };
    proc.stdout!.on('data', onData);
    proc.once('close', onClose);
  });
}
