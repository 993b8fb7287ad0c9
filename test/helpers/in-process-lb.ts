import { hostname } from 'node:os';
import pino from 'pino';
import { strategyNames } from '../../src/balancer/index.js';
import { envLayer, objectLayer, resolveConfig, type Config } from '../../src/config/index.js';
import { LoadBalancer } from '../../src/index.js';
import type { LogLine } from './lb.js';

/** A balancer running in the test's own process, read as tests read a spawned `lb`. */
export interface InProcessLb {
  readonly lb: LoadBalancer;
  readonly port: number;
  readonly url: string;
  /** Every log line so far, parsed. */
  readonly logs: LogLine[];
  /** Resolves with the first log line (past or future) that matches; rejects after `timeoutMs`. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Graceful stop, as SIGTERM does for the CLI; resolves with 0 (the CLI's exit code) once stopped. */
  stop(): Promise<number>;
}

/**
 * The engine the suite runs balancers with (TEST_ENGINE, as for the CLI: the second pass of
 * `npm test` sets node); unset, the default engine.
 */
const ENGINE: Record<string, string> = process.env.TEST_ENGINE === undefined ? {} : { ENGINE: process.env.TEST_ENGINE };

/** The last-resort bound on a wait for a log line: a test fails with what was logged, well before its own timeout. */
const SAFETY_TIMEOUT_MS = 60_000;

/**
 * Starts a balancer in this process, configured by environment names as `startLb` configures
 * the CLI (127.0.0.1, an ephemeral port, health checks once an hour unless the test says
 * otherwise), with its log lines (JSON, the CLI's fields) captured. For tests of the proxy's
 * behaviour: no process to spawn, and nothing left running if the test fails. Tests of the
 * process itself (signals, exit codes, workers, the CLI's output) keep `startLb`. `file` is
 * what a config file would say (its `pools:` and `routes:` too), under the environment.
 */
export async function startInProcess(env: Record<string, string>, t?: { after(fn: () => unknown): void }, file?: () => unknown): Promise<InProcessLb> {
  const layer = { HOST: '127.0.0.1', PORT: '0', HEALTH_CHECK_INTERVAL: '1h', ...ENGINE, ...env };
  // `file` stands for a config file's content (pools:, routes:, settings), read again on each reload.
  const load = (): Config => resolveConfig([...(file === undefined ? [] : [objectLayer(file(), 'lb.yaml')]), envLayer(layer)], strategyNames());
  const config = load();
  const logs: LogLine[] = [];
  const watchers: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  const destination = {
    write(text: string): void {
      const line = JSON.parse(text) as LogLine;
      logs.push(line);
      for (const w of [...watchers]) {
        if (w.match(line)) { watchers.splice(watchers.indexOf(w), 1); w.resolve(line); }
      }
    },
  };
  const logger = pino({ level: config.log.level, base: { pid: process.pid, hostname: hostname() } }, destination);
  const lb = new LoadBalancer(config, { logger, loadConfig: load });
  const { port } = await lb.start();
  let stopping: Promise<number> | undefined;
  const stop = (): Promise<number> => (stopping ??= lb.stop().then(() => 0));
  t?.after(stop);
  return {
    lb,
    port,
    url: `http://127.0.0.1:${port}`,
    logs,
    waitForLog(match, timeoutMs = SAFETY_TIMEOUT_MS) {
      const found = logs.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const watcher = { match, resolve: (l: LogLine) => { clearTimeout(timer); resolve(l); } };
        const timer = setTimeout(() => {
          watchers.splice(watchers.indexOf(watcher), 1);
          reject(new Error(`no matching log line within ${timeoutMs}ms; the last lines:\n${logs.slice(-20).map((l) => JSON.stringify(l)).join('\n')}`));
        }, timeoutMs);
        timer.unref();
        watchers.push(watcher);
      });
    },
    stop,
  };
}
