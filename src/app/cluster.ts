import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { HealthMonitor } from '../health/index.js';
import { Pool, type PoolChange } from '../pool/index.js';
import { CONFIG_ENV, image, INDEX_ENV, type Change, type ToPrimary, type ToWorker } from './cluster-protocol.js';
import { backendTls, describeConfig, logPoolEvents } from './load-balancer.js';
import { flushLogger } from './logger.js';
import { exitCannotStart } from './signals.js';

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


/**
 * The primary of a multi-process balancer, and the one owner of the pool: it runs the health
 * checks, and every change to its `pool` (health, backends added or removed, weights, drains,
 * maintenance) goes to every worker by backend id; a worker that starts or restarts gets the
 * whole pool first. It starts the workers (each with its own rotation offset, so the rotation
 * stays even across them), replaces one that dies, sums their counters (those of workers that
 * died included) and drains them all on `stop()`.
 */
export class ClusterPrimary {
  readonly pool: Pool;
  readonly config: Config;
  readonly log: Logger;
  readonly #count: number;
  readonly #monitor: HealthMonitor;
  readonly #workers = new Map<number, Worker>();
  readonly #stats = new Map<number, Map<string, [number, number]>>();
  /** Requests counted by workers that have died, per backend id. */
  readonly #retired = new Map<string, number>();
  readonly #listening = new Set<number>();
  /** Changes (and requests for counters) sent and not yet answered by every worker: seq → workers still to answer. */
  readonly #pending = new Map<number, { waiting: Set<number>; done: Promise<void>; resolve: () => void }>();
  #seq = 0;
  #stopping = false;
  #everListened = false;
  /** Per worker slot: how many times in a row its worker died within a second of starting. */
  readonly #earlyDeaths = new Map<number, number>();
  #started!: { resolve: (port: number) => void; reject: (err: Error) => void };

  constructor(config: Config, log: Logger) {
    // Workers must sign sticky cookies alike, or a cookie from one is refused by the other.
    this.config = config.sticky.cookie !== undefined && config.sticky.secret === undefined
      ? { ...config, sticky: { ...config.sticky, secret: randomBytes(32).toString('hex') } }
      : config;
    if (this.config !== config) log.warn('STICKY_SECRET is not set: sticky cookies are signed with a random key and will not survive a restart');
    this.log = log;
    this.#count = workerCount(config);
    this.pool = new Pool(config.backends);
    logPoolEvents(this.pool, log);
    this.#monitor = new HealthMonitor(this.pool, config.health, log.child({ component: 'health' }), undefined, backendTls(config));
    this.pool.on('health', ({ backend, healthy, reason }) => this.#broadcast({ type: 'health', id: backend.id, healthy, reason }));
    this.pool.on('change', (change) => this.#onChange(change));
  }

  /** Checks every backend once, then starts the workers; resolves with the port once all listen. */
  async start(): Promise<number> {
    this.log.info({ config: describeConfig(this.config), workers: this.#count }, 'starting');
    await this.#monitor.start();
    const listening = new Promise<number>((resolve, reject) => { this.#started = { resolve, reject }; });
    for (let i = 0; i < this.#count; i++) this.#fork(i);
    return listening;
  }

  /**
   * Asks every worker for its counters now (they also report every second on their own) and
   * resolves once all have answered and the pool's totals are up to date: collect on demand,
   * for a scrape or a test.
   */
  collect(): Promise<void> {
    const { seq, done } = this.#expect();
    this.#broadcast({ type: 'report', seq });
    return done;
  }

  /** Resolves once every change made to the pool so far has been applied by every worker. */
  settled(): Promise<void> {
    return Promise.all([...this.#pending.values()].map((p) => p.done)).then(() => undefined);
  }

  /** The seq of a message waiting for every worker's answer; `resolve` when all have. */
  #expect(): { seq: number; done: Promise<void> } {
    const seq = ++this.#seq;
    const waiting = new Set([...this.#workers].filter(([, w]) => w.isConnected()).map(([i]) => i));
    let resolve!: () => void;
    const done = waiting.size === 0 ? Promise.resolve() : new Promise<void>((r) => { resolve = r; });
    if (waiting.size > 0) this.#pending.set(seq, { waiting, done, resolve });
    return { seq, done };
  }

  get workers(): number {
    return this.#workers.size;
  }

  /** Drains every worker (each within SHUTDOWN_TIMEOUT) and stops the health checks. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.log.info({ workers: this.#workers.size }, 'shutting down');
    await this.#monitor.stop();
    const exited = [...this.#workers.values()].map((w) => new Promise<void>((resolve) => {
      if (w.isDead()) resolve(); else w.once('exit', () => resolve());
    }));
    this.#broadcast({ type: 'shutdown' });
    // Each worker drains within SHUTDOWN_TIMEOUT; allow it that and a little more to exit.
    const deadline = setTimeout(() => this.kill(), this.config.shutdown.timeout + 5000);
    await Promise.all(exited);
    clearTimeout(deadline);
    for (const p of this.#pending.values()) p.resolve();
    this.#pending.clear();
  }

  /** Kills every worker now (a second signal). */
  kill(): void {
    for (const worker of this.#workers.values()) worker.process.kill('SIGKILL');
  }

  #onChange({ kind, backend }: PoolChange): void {
    let change: Change;
    switch (kind) {
      case 'added': change = { op: 'add', backend: image(backend) }; break;
      case 'removed': change = { op: 'remove', id: backend.id }; break;
      case 'weight': change = { op: 'weight', id: backend.id, weight: backend.weight }; break;
      case 'admin': change = { op: 'admin', id: backend.id, admin: backend.admin }; break;
      default: return;
    }
    this.#broadcast({ type: 'change', seq: this.#expect().seq, ...change });
  }

  #acknowledge(worker: number, seq: number): void {
    const pending = this.#pending.get(seq);
    if (pending === undefined) return;
    pending.waiting.delete(worker);
    if (pending.waiting.size > 0) return;
    this.#pending.delete(seq);
    pending.resolve();
  }

  #broadcast(message: ToWorker): void {
    for (const worker of this.#workers.values()) if (worker.isConnected()) worker.send(message);
  }

  /** Sums the workers' counters into the primary's backends; a backend whose drain ends is told so. */
  #sumStats(): void {
    for (const backend of this.pool.backends) {
      let requests = this.#retired.get(backend.id) ?? 0;
      let inFlight = 0;
      for (const stats of this.#stats.values()) {
        const s = stats.get(backend.id);
        if (s !== undefined) { requests += s[0]; inFlight += s[1]; }
      }
      backend.requests = requests;
      backend.setInFlight(inFlight);
    }
  }

  #fork(index: number): void {
    const startedAt = Date.now();
    const worker = cluster.fork({ [CONFIG_ENV]: JSON.stringify(this.config), [INDEX_ENV]: String(index) });
    this.#workers.set(index, worker);
    worker.on('message', (message: ToPrimary) => {
      switch (message.type) {
        case 'hello':
          // The worker listens for messages now (one sent earlier could have been lost): send the pool.
          worker.send({ type: 'pool', backends: this.pool.backends.map(image) } satisfies ToWorker);
          break;
        case 'ack':
          this.#acknowledge(index, message.seq);
          break;
        case 'outlier': {
          const backend = this.pool.get(message.id);
          if (backend !== undefined && message.ejected) backend.ejections++;
          if (message.ejected) this.log.warn({ worker: index, backend: message.id }, 'a worker ejected a backend');
          else this.log.info({ worker: index, backend: message.id }, 'a worker returned a backend');
          break;
        }
        case 'stats':
          this.#stats.set(index, new Map(message.backends.map(([id, requests, inFlight]) => [id, [requests, inFlight]])));
          this.#sumStats();
          if (message.seq !== undefined) this.#acknowledge(index, message.seq);
          break;
        case 'failed':
          if (this.#everListened) this.log.error({ worker: index, code: message.code, err: message.message }, 'worker cannot start');
          // No worker has ever listened: the configuration cannot work here (a port taken, say),
          // and restarting workers would only repeat the failure.
          else this.#failStart(message);
          break;
        case 'listening':
          this.#listening.add(index);
          this.#everListened = true;
          this.log.info({ worker: index, workerPid: worker.process.pid, port: message.port }, 'worker started');
          if (this.#listening.size === this.#count) this.#started.resolve(message.port);
          break;
      }
    });
    worker.on('exit', (code, signal) => {
      this.#workers.delete(index);
      this.#listening.delete(index);
      // Its counters stay in the totals.
      for (const [id, [requests]] of this.#stats.get(index) ?? []) this.#retired.set(id, (this.#retired.get(id) ?? 0) + requests);
      this.#stats.delete(index);
      this.#sumStats();
      for (const seq of [...this.#pending.keys()]) this.#acknowledge(index, seq);
      if (this.#stopping) return;
      // A worker that keeps dying at once (a bad module, a port taken) is restarted less and less often.
      const early = Date.now() - startedAt < 1000 ? (this.#earlyDeaths.get(index) ?? 0) + 1 : 0;
      this.#earlyDeaths.set(index, early);
      const delay = restartDelay(early);
      this.log.error({ worker: index, workerPid: worker.process.pid, code, signal, restartInMs: delay }, 'worker died: starting a new one');
      setTimeout(() => { if (!this.#stopping) this.#fork(index); }, delay).unref();
    });
  }

  #failStart(failure: { code: string | undefined; message: string }): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.kill(); // none has listened: nothing to drain
    void this.#monitor.stop().then(() => {
      const err = Object.assign(new Error(failure.message), { code: failure.code });
      this.#started.reject(err);
    });
  }
}

/**
 * The `lb` command with WORKERS > 0: a ClusterPrimary with signal handling. SIGTERM/SIGINT drain
 * every worker and exit 0 (a second one exits at once); SIGHUP is passed on to the workers.
 */
export async function runPrimary(config: Config, log: Logger): Promise<void> {
  const primary = new ClusterPrimary(config, log);
  let signals = 0;
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      primary.kill();
      flushLogger(log);
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    }
    await primary.stop();
    log.info('stopped');
    flushLogger(log);
    process.exit(0);
  };
  process.on('SIGTERM', (s) => void stop(s));
  process.on('SIGINT', (s) => void stop(s));
  process.on('SIGHUP', () => {
    log.info('SIGHUP: passing it on to the workers');
    for (const id in cluster.workers) cluster.workers[id]?.process.kill('SIGHUP');
  });
  let port: number;
  try {
    port = await primary.start();
  } catch (err) {
    exitCannotStart(log, err as NodeJS.ErrnoException);
  }
  log.info({ address: config.host, port, workers: workerCount(config), strategy: config.strategy,
    available: primary.pool.available.length, backends: primary.pool.backends.length }, 'listening');
}

export { isWorker } from './cluster-protocol.js';
export { runWorker } from './cluster-worker.js';
