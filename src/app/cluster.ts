import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { HealthMonitor } from '../health/index.js';
import { Pool } from '../pool/index.js';
import { backendTls, describeConfig, LoadBalancer, logHealthFlips } from './load-balancer.js';
import { createLogger, flushLogger } from './logger.js';
import { exitCannotStart, handleSignals } from './signals.js';

/** Messages between the primary and its workers (node:cluster IPC). */
type ToWorker =
  | { type: 'pool'; healthy: boolean[]; reasons: (string | undefined)[] }
  | { type: 'health'; index: number; healthy: boolean; reason: string | undefined }
  | { type: 'shutdown' };
type ToPrimary =
  | { type: 'hello' }
  | { type: 'listening'; port: number }
  | { type: 'failed'; code: string | undefined; message: string }
  | { type: 'stats'; requests: number[]; inFlight: number[] };

const CONFIG_ENV = 'LB_WORKER_CONFIG';
const INDEX_ENV = 'LB_WORKER_INDEX';
const STATS_INTERVAL_MS = 1000;

/**
 * How long to wait before replacing a worker: at once after one that ran, then 1 s, 2 s, 4 s …
 * up to 30 s while replacements keep dying within a second of starting.
 */
export function restartDelay(earlyDeathsInARow: number): number {
  if (earlyDeathsInARow <= 0) return 0;
  return Math.min(30_000, 1000 * 2 ** Math.min(earlyDeathsInARow - 1, 5));
}

/** The number of workers `WORKERS` asks for (`auto`: one per core). */
export function workerCount(config: Config): number {
  return config.workers === 'auto' ? availableParallelism() : config.workers;
}

/** True in a worker process started by `runPrimary`. */
export function isWorker(): boolean {
  return cluster.isWorker && process.env[CONFIG_ENV] !== undefined;
}

/**
 * The primary of a multi-process balancer: the one source of truth for health. It runs the
 * health checks and pushes every flip to the workers, starts the workers (each with its own
 * round-robin offset, so the rotation stays even across them), replaces a worker that dies,
 * collects their counters, and on SIGTERM/SIGINT drains them all before exiting.
 */
export async function runPrimary(config: Config, log: Logger): Promise<void> {
  const count = workerCount(config);
  const pool = new Pool(config.backends);
  logHealthFlips(pool, log);
  const monitor = new HealthMonitor(pool, config.health, log.child({ component: 'health' }), undefined, backendTls(config));
  log.info({ config: describeConfig(config), workers: count }, 'starting');
  await monitor.start();

  const workers = new Map<number, Worker>();
  const stats = new Map<number, { requests: number[]; inFlight: number[] }>();
  const listening = new Set<number>();
  let stopping = false;
  let announced = false;
  let everListened = false;
  /** Per worker slot: how many times in a row its worker died within a second of starting. */
  const earlyDeaths = new Map<number, number>();

  const broadcast = (message: ToWorker): void => {
    for (const worker of workers.values()) if (worker.isConnected()) worker.send(message);
  };
  pool.on('health', ({ backend, healthy, reason }) => broadcast({ type: 'health', index: backend.index, healthy, reason }));

  const fork = (index: number): void => {
    const startedAt = Date.now();
    const worker = cluster.fork({ [CONFIG_ENV]: JSON.stringify(config), [INDEX_ENV]: String(index) });
    workers.set(index, worker);
    worker.on('message', (message: ToPrimary) => {
      if (message.type === 'hello') {
        // The worker listens for messages now (one sent earlier could have been lost): send the state.
        worker.send({ type: 'pool', healthy: pool.backends.map((b) => b.healthy), reasons: pool.backends.map((b) => b.healthReason) } satisfies ToWorker);
      } else if (message.type === 'stats') {
        stats.set(index, message);
        pool.backends.forEach((b, i) => {
          b.requests = [...stats.values()].reduce((n, s) => n + (s.requests[i] ?? 0), 0);
          b.inFlight = [...stats.values()].reduce((n, s) => n + (s.inFlight[i] ?? 0), 0);
        });
      } else if (message.type === 'failed') {
        if (everListened) {
          log.error({ worker: index, code: message.code, err: message.message }, 'worker cannot start');
          return;
        }
        // No worker has ever listened: the configuration cannot work here (a port taken, say), and
        // restarting workers would only repeat the failure.
        void failStart(message);
      } else if (message.type === 'listening') {
        listening.add(index);
        everListened = true;
        log.info({ worker: index, workerPid: worker.process.pid, port: message.port }, 'worker started');
        if (!announced && listening.size === count) {
          announced = true;
          log.info({ address: config.host, port: message.port, workers: count, strategy: config.strategy,
            healthy: pool.healthy.length, backends: pool.backends.length }, 'listening');
        }
      }
    });
    worker.on('exit', (code, signal) => {
      workers.delete(index);
      listening.delete(index);
      stats.delete(index);
      if (stopping) return;
      // A worker that keeps dying at once (a bad module, a port taken) is restarted less and less often.
      const early = Date.now() - startedAt < 1000 ? (earlyDeaths.get(index) ?? 0) + 1 : 0;
      earlyDeaths.set(index, early);
      const delay = restartDelay(early);
      log.error({ worker: index, workerPid: worker.process.pid, code, signal, restartInMs: delay }, 'worker died: starting a new one');
      setTimeout(() => { if (!stopping) fork(index); }, delay).unref();
    });
  };
  const failStart = async (failure: { code: string | undefined; message: string }): Promise<void> => {
    if (stopping) return;
    stopping = true;
    for (const worker of workers.values()) worker.process.kill('SIGKILL'); // none has listened: nothing to drain
    await monitor.stop();
    exitCannotStart(log, failure);
  };
  for (let i = 0; i < count; i++) fork(i);

  let signals = 0;
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      for (const worker of workers.values()) worker.process.kill('SIGKILL');
      flushLogger(log);
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    }
    stopping = true;
    log.info({ signal, workers: workers.size }, 'shutting down');
    await monitor.stop();
    const exited = [...workers.values()].map((w) => new Promise<void>((resolve) => {
      if (w.isDead()) resolve(); else w.once('exit', () => resolve());
    }));
    broadcast({ type: 'shutdown' });
    // Each worker drains within SHUTDOWN_TIMEOUT; allow it that and a little more to exit.
    const deadline = setTimeout(() => {
      for (const w of workers.values()) w.process.kill('SIGKILL');
    }, config.shutdown.timeout + 5000);
    await Promise.all(exited);
    clearTimeout(deadline);
    log.info('stopped');
    flushLogger(log);
    process.exit(0);
  };
  process.on('SIGTERM', (s) => void stop(s));
  process.on('SIGINT', (s) => void stop(s));
  process.on('SIGHUP', () => {
    log.info('SIGHUP: passing it on to the workers');
    for (const worker of workers.values()) worker.process.kill('SIGHUP');
  });
}

/**
 * A worker: a full LoadBalancer whose health comes from the primary. It waits for the pool's
 * state before it listens, applies every flip the primary sends, reports its counters, and
 * drains on the primary's word (or its own signal, or when the primary is gone).
 */
export async function runWorker(): Promise<LoadBalancer> {
  const config = JSON.parse(process.env[CONFIG_ENV]!) as Config;
  const index = Number(process.env[INDEX_ENV] ?? 0);
  const log = createLogger({ ...config.log, bindings: { worker: index } });
  const lb = new LoadBalancer(config, { logger: log, strategyOffset: index, externalHealth: true });
  const stop = handleSignals(lb);
  const backends = lb.pool.backends;
  const ready = new Promise<void>((resolve) => {
    process.on('message', (message: ToWorker) => {
      if (message.type === 'pool') {
        message.healthy.forEach((healthy, i) => lb.pool.setHealth(backends[i]!, healthy, message.reasons[i]));
        resolve();
      } else if (message.type === 'health') {
        lb.pool.setHealth(backends[message.index]!, message.healthy, message.reason);
      } else if (message.type === 'shutdown') {
        stop('SIGTERM');
      }
    });
  });
  // The primary is gone: nobody will tell this worker about health any more.
  process.on('disconnect', () => stop('SIGTERM'));
  process.send!({ type: 'hello' } satisfies ToPrimary);
  await ready;
  let address;
  try {
    address = await lb.start();
  } catch (err) {
    // The primary decides: exit the whole balancer (nothing listens yet) or restart this worker.
    const e = err as NodeJS.ErrnoException;
    flushLogger(log);
    process.send!({ type: 'failed', code: e.code, message: e.message } satisfies ToPrimary, () => process.exit(1));
    return lb;
  }
  process.send!({ type: 'listening', port: address.port } satisfies ToPrimary);
  setInterval(() => {
    if (!process.connected) return;
    process.send!({ type: 'stats', requests: backends.map((b) => b.requests), inFlight: backends.map((b) => b.inFlight) } satisfies ToPrimary);
  }, STATS_INTERVAL_MS).unref();
  return lb;
}

export { cluster };
