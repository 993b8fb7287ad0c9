import { mergeShadows } from '../balancer/index.js';
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { AdminServer, EventLog, poolSettingsSummary, type AdminPool, type AdminTarget, type ReloadOutcome } from '../admin/index.js';
import { STARTED_AT, VERSION } from '../version.js';
import type { Config } from '../config/index.js';
import { HealthMonitor } from '../health/index.js';
import { addConnections, Metrics, Tally, type Counts, type ProcessCounts } from '../metrics/index.js';
import { Pool, type PoolChange } from '../pool/index.js';
import { CONFIG_ENV, image, INDEX_ENV, type Change, type ToPrimary, type ToWorker } from './cluster-protocol.js';
import { keeping, reloaded, reloadFailed, restartOnly } from './reload.js';
import { describeConfig, logPoolEvents } from './reporting.js';
import { backendTls, watchFiles } from './tls-files.js';
import { flushLogger } from './logger.js';
import { PoolKeeper } from './pool-keeper.js';
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
export interface ClusterOptions {
  /** Reads the configuration again, for reloads (SIGHUP, the admin API, a changed file). */
  readonly loadConfig?: () => Config;
  /** Files whose change triggers a reload. */
  readonly watch?: readonly string[];
}

export class ClusterPrimary {
  readonly pool: Pool;
  config: Config;
  readonly log: Logger;
  /** Health flips, ejections, changes, reloads and worker restarts, the newest last. */
  readonly events = new EventLog();
  readonly reloads = { succeeded: 0, failed: 0 };
  readonly #keeper: PoolKeeper;
  readonly #options: ClusterOptions;
  #metrics: Metrics | undefined;
  #admin: AdminServer | undefined;
  #unwatch: (() => void) | undefined;
  /** Each worker's last request tally and process counts, and default metrics when asked. */
  readonly #tallies = new Map<number, { rows: [string, number[]][]; process: ProcessCounts; metrics?: unknown[] }>();
  /** The counts of workers that have died. */
  readonly #retiredTally = new Tally();
  readonly #retiredCounts = { retries: 0, logLinesDropped: 0 };
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

  constructor(config: Config, log: Logger, options: ClusterOptions = {}) {
    // Workers must sign sticky cookies alike, or a cookie from one is refused by the other.
    this.config = config.sticky.cookie !== undefined && config.sticky.secret === undefined
      ? { ...config, sticky: { ...config.sticky, secret: randomBytes(32).toString('hex') } }
      : config;
    if (this.config !== config) log.warn('STICKY_SECRET is not set: sticky cookies are signed with a random key and will not survive a restart');
    this.log = log;
    this.#count = workerCount(config);
    this.#options = options;
    this.#keeper = new PoolKeeper(config, config.stateFile, log);
    this.pool = new Pool(this.#keeper.specs);
    this.#keeper.restore(this.pool);
    logPoolEvents(this.pool, log);
    this.events.watch(this.pool);
    this.#monitor = new HealthMonitor(this.pool, config.health, log.child({ component: 'health' }), undefined, backendTls(config));
    this.pool.on('health', ({ backend, healthy, reason }) => this.#broadcast({ type: 'health', id: backend.id, healthy, reason }));
    this.pool.on('change', (change) => this.#onChange(change));
  }

  /** Checks every backend once, then starts the workers; resolves with the port once all listen. */
  async start(): Promise<number> {
    this.log.info({ config: describeConfig(this.config), workers: this.#count }, 'starting');
    await this.#keeper.start(this.pool);
    await this.#monitor.start();
    const listening = new Promise<number>((resolve, reject) => { this.#started = { resolve, reject }; });
    for (let i = 0; i < this.#count; i++) this.#fork(i);
    const port = await listening;
    const admin = this.config.admin;
    if (admin.port !== undefined) {
      this.#admin = new AdminServer(this.#adminTarget(), { ...admin, port: admin.port }, this.log.child({ component: 'admin' }));
      const address = await this.#admin.listen();
      this.log.info({ address: address.address, port: address.port, token: admin.token !== undefined }, 'admin listening');
    }
    const watch = this.#options.watch ?? [];
    if (watch.length > 0 && this.#options.loadConfig !== undefined) {
      this.#unwatch = watchFiles(watch, () => {
        this.log.info({ files: watch }, 'configuration file changed: reloading');
        this.reload();
      }, 1000);
    }
    return port;
  }

  /** The admin listener's port, once started with ADMIN_PORT. */
  get adminPort(): number | undefined {
    const address = this.#admin?.server.address();
    return typeof address === 'object' && address !== null ? address.port : undefined;
  }

  /** The Prometheus metrics of the whole cluster: the workers' counts summed. */
  get metrics(): Metrics {
    this.#metrics ??= new Metrics({ pool: this.pool, counts: () => this.counts(), reloads: this.reloads });
    return this.#metrics;
  }

  /** Asks every worker for its counts and sums them, with those of workers that died. */
  async counts(withDefaults = true): Promise<Counts> {
    await this.collect(withDefaults);
    const rows = new Tally();
    rows.add(this.#retiredTally.entries());
    const process: ProcessCounts = { retries: this.#retiredCounts.retries, queued: 0, connections: 0, logLinesDropped: this.#retiredCounts.logLinesDropped };
    const workers: unknown[][] = [];
    for (const t of this.#tallies.values()) {
      rows.add(t.rows);
      process.retries += t.process.retries;
      process.queued += t.process.queued;
      process.connections += t.process.connections;
      process.logLinesDropped += t.process.logLinesDropped;
      addConnections(process.backendConnections ??= {}, t.process.backendConnections);
      if (withDefaults && t.metrics !== undefined) workers.push(t.metrics);
    }
    // Shadow tallies of the workers alive now (those of a worker that died are lost with it).
    process.shadow = mergeShadows([...this.#tallies.values()].flatMap((t) => (t.process.shadow === undefined ? [] : [t.process.shadow])));
    return { rows: [...rows.entries()], process, workers: workers as never };
  }

  /**
   * Reads the configuration again: the pool is brought to the new backends here (and so in
   * every worker, as changes), and the workers apply the rest; see LoadBalancer.reload.
   */
  reload(): ReloadOutcome {
    const load = this.#options.loadConfig;
    if (load === undefined) return { ok: false, error: 'this balancer has no configuration source to reload from' };
    let next: Config;
    try {
      next = load();
    } catch (err) {
      return reloadFailed(this, err as Error);
    }
    if (next.sticky.cookie !== undefined && next.sticky.secret === undefined) next = { ...next, sticky: { ...next.sticky, secret: this.config.sticky.secret } };
    const restart = restartOnly(this.config, next);
    const needRestart = restart.map((s) => s.env);
    // What is in effect (and what a restarted worker gets): the old values of what needs a restart.
    next = keeping(next, this.config, restart.map((s) => s.key));
    const changes = this.#keeper.reconcile(this.pool, next);
    this.#monitor.configure(next.health);
    this.#broadcast({ type: 'config', config: next });
    this.config = next;
    return reloaded(this, changes, needRestart);
  }

  #adminTarget(): AdminTarget {
    const primary = this;
    // One pool here, the default, until the primary owns every pool.
    const only: AdminPool = {
      pool: this.pool,
      strategy: () => this.config.strategy,
      settings: () => poolSettingsSummary(this.config),
      changed: () => this.#keeper.changed(this.pool),
    };
    return {
      pool: this.pool,
      pools: () => new Map([['default', only]]),
      routes: () => ({ routes: this.config.routes, table: undefined }),
      get metrics() { return primary.metrics; },
      events: this.events,
      // Sampling needs the counts only, not the workers' default metrics.
      counts: () => this.counts(false),
      info: () => ({ strategy: this.config.strategy, version: VERSION, workers: this.#count, startedAt: STARTED_AT, tokenRequired: this.config.admin.token !== undefined }),
      get draining() { return primary.#stopping; },
      describeConfig: () => ({ ...describeConfig(this.config), workers: this.#count }),
      settled: () => this.settled(),
      changed: () => this.#keeper.changed(this.pool),
      reload: () => Promise.resolve(this.reload()).then(async (outcome) => { await this.settled(); return outcome; }),
    };
  }

  /**
   * Asks every worker for its counters now (they also report every second on their own) and
   * resolves once all have answered and the pool's totals are up to date: collect on demand,
   * for a scrape or a test.
   */
  collect(metrics = false): Promise<void> {
    const { seq, done } = this.#expect();
    this.#broadcast({ type: 'report', seq, metrics });
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
    this.#unwatch?.();
    this.#keeper.stop();
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
    await this.#admin?.close();
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
      case 'warning': change = { op: 'warning', id: backend.id, warning: backend.warning, factor: backend.healthFactor }; break;
      case 'canary': change = { op: 'canary', id: backend.id, factor: backend.canaryFactor }; break;
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
      backend.setRequests(requests);
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
          if (backend !== undefined && message.ejected) backend.countEjection();
          if (message.ejected) this.log.warn({ worker: index, backend: message.id }, 'a worker ejected a backend');
          else this.log.info({ worker: index, backend: message.id }, 'a worker returned a backend');
          this.events.add({ kind: message.ejected ? 'ejected' : 'returned', backend: message.id, message: `${message.ejected ? 'ejected' : 'returned'} by worker ${index}` });
          break;
        }
        case 'stats':
          this.#stats.set(index, new Map(message.backends.map(([id, requests, inFlight]) => [id, [requests, inFlight]])));
          this.#tallies.set(index, { rows: message.tally, process: message.process, metrics: message.metrics ?? this.#tallies.get(index)?.metrics });
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
      const last = this.#tallies.get(index);
      if (last !== undefined) {
        this.#retiredTally.add(last.rows);
        this.#retiredCounts.retries += last.process.retries;
        this.#retiredCounts.logLinesDropped += last.process.logLinesDropped;
        this.#tallies.delete(index);
      }
      if (!this.#stopping) this.events.add({ kind: 'worker', message: `worker ${index} died (${signal ?? `exit ${code}`}): restarting it` });
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
    this.#keeper.stop();
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
export async function runPrimary(config: Config, log: Logger, options: ClusterOptions = {}): Promise<void> {
  const primary = new ClusterPrimary(config, log, options);
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
    log.info('SIGHUP: reloading the configuration, and passing it on to the workers (certificates)');
    primary.reload();
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
