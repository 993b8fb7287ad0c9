import { mergeShadows } from '../balancer/index.js';
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { AdminServer, EventLog, policyGlobals, poolSettingsSummary, type AdminPool, type AdminTarget, type ReloadOutcome } from '../admin/index.js';
import { STARTED_AT, VERSION } from '../version.js';
import type { Config } from '../config/index.js';
import { StateFile } from '../admin/state-file.js';
import { DEFAULT_POOL, type PoolConfig } from '../config/pools.js';
import { RouteTable } from '../routing/index.js';
import { addConnections, addRefusals, mergeExemplars, Metrics, Tally, type Counts, type Exemplar, type ExemplarImage, type ProcessCounts } from '../metrics/index.js';
import type { Pool, PoolChange } from '../pool/index.js';
import { CONFIG_ENV, image, INDEX_ENV, type Change, type PoolImage, type ToPrimary, type ToWorker } from './cluster-protocol.js';
import { keeping, reloaded, reloadFailed, restartOnly } from './reload.js';
import { globalRateLimit } from './rate-limit-config.js';
import { RateAuthority } from '../rate-limit/index.js';
import { performance } from 'node:perf_hooks';
import { describeConfig } from './reporting.js';
import { backendTls, poolBackendTls, watchBackendTls, watchFiles } from './tls-files.js';
import type { BackendTlsFiles } from '../tls/backend-tls.js';
import { flushLogger } from './logger.js';
import { ManagedPool, poolChanges } from './managed-pool.js';
import { exitCannotStart } from './signals.js';
import { AcmeManager, Challenges, acmeChallenge, acmeNames, acmeOn, type ChallengeChange, type KeyPair, type TlsUpdate } from '../tls/acme/index.js';
import { TicketKeys } from '../tls/ticket-keys.js';
import { ticketKeyHook } from '../tls/session-tickets.js';
import { LISTEN_ENV, listenMode, PortReservation, reusePortUnsupported, type ListenMode } from './worker-listen.js';

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


/** Whether some sticky cookie of `config` (global or a pool's) has no STICKY_SECRET. */
function unsigned(config: Config): boolean {
  return [config, ...config.pools].some((s) => s.sticky.cookie !== undefined && s.sticky.secret === undefined);
}

/** `config` with `secret` for every sticky cookie that has none: workers must sign alike, or a cookie from one is refused by the other. */
function signedAlike(config: Config, secret: string): Config {
  const sign = <T extends Pick<Config, 'sticky'>>(s: T): T => (s.sticky.cookie !== undefined && s.sticky.secret === undefined ? { ...s, sticky: { ...s.sticky, secret } } : s);
  return { ...sign(config), pools: config.pools.map((p) => sign<PoolConfig>(p)) };
}

/** Where a primary reads its configuration again, and what it watches. */
export interface ClusterOptions {
  /** Reads the configuration again, for reloads (SIGHUP, the admin API, a changed file). */
  readonly loadConfig?: () => Config;
  /** Files whose change triggers a reload. */
  readonly watch?: readonly string[];
}

/**
 * The primary of a multi-process balancer, and the one owner of every pool: it runs each pool's
 * health checks, DNS lookups and runtime changes (STATE_FILE), and every change to a pool
 * (health, backends added or removed, weights, drains, maintenance) goes to every worker by pool
 * name and backend id; a worker that starts or restarts gets every pool whole first. It starts
 * the workers (each with its own rotation offset, so the rotation stays even across them),
 * replaces one that dies, sums their counters (those of workers that died included) and drains
 * them all on `stop()`.
 */
export class ClusterPrimary {
  config: Config;
  readonly log: Logger;
  /** Health flips, ejections, changes, reloads and worker restarts, the newest last. */
  readonly events = new EventLog();
  readonly reloads = { succeeded: 0, failed: 0 };
  /** Every configured pool with its keeper and health checks, by name (`default` first when there is one). */
  readonly #pools = new Map<string, ManagedPool>();
  /** STATE_FILE, shared by every pool's keeper. */
  readonly #stateFile: StateFile | undefined;
  /** What signs sticky cookies that have no STICKY_SECRET, in every worker alike. */
  readonly #stickySecret = randomBytes(32).toString('hex');
  readonly #options: ClusterOptions;
  #metrics: Metrics | undefined;
  #admin: AdminServer | undefined;
  #unwatch: (() => void) | undefined;
  /** BACKEND_* TLS, shared by the pools that set none of their own (their health checks run here). */
  readonly #backendTls: BackendTlsFiles;
  /** Every pool's backend TLS (the health checks run here): their files are watched. */
  readonly #poolTls = new Set<BackendTlsFiles>();
  #unwatchTls: (() => void) | undefined;
  /** Each worker's last request tally and process counts, and default metrics when asked. */
  readonly #tallies = new Map<number, { rows: [string, number[]][]; process: ProcessCounts; metrics?: unknown[]; exemplars?: ExemplarImage | undefined }>();
  /** The counts of workers that have died. */
  readonly #retiredTally = new Tally();
  readonly #retiredCounts = { retries: 0, logLinesDropped: 0 };
  readonly #count: number;
  readonly #workers = new Map<number, Worker>();
  /** Each worker's last counters: per pool, per backend id, requests and in flight. */
  readonly #stats = new Map<number, Map<string, Map<string, [number, number]>>>();
  /** Requests counted by workers that have died, per pool and backend id. */
  readonly #retired = new Map<string, Map<string, number>>();
  readonly #listening = new Set<number>();
  /** Changes (and requests for counters) sent and not yet answered by every worker: seq → workers still to answer. */
  readonly #pending = new Map<number, { waiting: Set<number>; done: Promise<void>; resolve: () => void }>();
  #seq = 0;
  #stopping = false;
  #everListened = false;
  /** Per worker slot: how many times in a row its worker died within a second of starting. */
  readonly #earlyDeaths = new Map<number, number>();
  /** Every rate limit's table: the workers ask here per request, so the group admits what one process would. */
  readonly #rates = new RateAuthority(() => performance.now());
  #started!: { resolve: (port: number) => void; reject: (err: Error) => void };
  /** ACME_DOMAINS: only the primary talks to the ACME server; workers get certificates and challenges from here. */
  readonly #acme: AcmeManager | undefined;
  /** What every worker has been given of ACME, for a worker that starts later. */
  readonly #certificates = new Map<string, KeyPair>();
  readonly #challenges = new Challenges();
  /** Challenges sent and not yet acknowledged by every worker, by seq. */
  readonly #challengeSeqs = new Set<number>();
  /** The session ticket key every worker uses, so that a session resumes on any of them. */
  readonly #ticketKeys: TicketKeys | undefined;
  /** WORKER_LISTEN resolved: each worker its own SO_REUSEPORT socket, or this process's hand-off. */
  readonly #listen: { readonly mode: ListenMode; readonly fallback?: string };
  /** With reuseport: the ports every worker binds, held here until all of them listen. */
  #reservation: PortReservation | undefined;

  constructor(config: Config, log: Logger, options: ClusterOptions = {}) {
    if (unsigned(config)) log.warn('STICKY_SECRET is not set: sticky cookies are signed with a random key and will not survive a restart');
    this.config = signedAlike(config, this.#stickySecret);
    this.log = log;
    this.#count = workerCount(config);
    this.#listen = listenMode(config.workerListen, reusePortUnsupported());
    this.#options = options;
    this.#stateFile = config.stateFile === undefined ? undefined : new StateFile(config.stateFile);
    this.#backendTls = backendTls(this.config);
    for (const settings of this.config.pools) this.#addPool(settings);
    this.#rates.configure(globalRateLimit(this.config), this.config.routes);
    const acmeLog = log.child({ component: 'acme' });
    this.#acme = !acmeOn(config) ? undefined : new AcmeManager({
      names: acmeNames(config), settings: config.acme, challenge: acmeChallenge(config), log: acmeLog,
      publish: { certificate: (name, pems) => this.#publishCertificate(name, pems), challenge: (change) => this.#publishChallenge(change) },
    });
    const tls = config.tls.cert !== undefined || this.#acme !== undefined;
    this.#ticketKeys = !tls ? undefined : new TicketKeys(config.tls.ticketRotation, (keys) => {
      this.#broadcast({ type: 'tls', update: { ticketKeys: keys.toString('base64') } });
      if (this.#workers.size > 0) this.log.info('TLS session ticket key rotated');
    });
  }

  #publishCertificate(name: string, pems: KeyPair): void {
    this.#certificates.set(name, pems);
    this.#broadcast({ type: 'tls', update: { certificates: [[name, pems]] } });
  }

  /** A challenge reaches every worker; resolves once each has it (any of them may get the validation). */
  #publishChallenge(change: ChallengeChange): Promise<void> {
    this.#challenges.apply(change);
    const { seq, done } = this.#expect();
    this.#challengeSeqs.add(seq);
    this.#broadcast({ type: 'tls', seq, update: { challenges: [change] } });
    return done.finally(() => this.#challengeSeqs.delete(seq));
  }

  /** Everything of TLS a worker that says hello gets before its pools. */
  #tlsImage(): TlsUpdate {
    return { certificates: [...this.#certificates], challenges: this.#challenges.image(), ticketKeys: this.#ticketKeys?.keys.toString('base64') };
  }

  /** A pool's backend TLS (its `tls:`, or BACKEND_*'s), kept to be watched. */
  #tlsOf(settings: PoolConfig): BackendTlsFiles {
    const tls = poolBackendTls(settings, this.config, this.#backendTls);
    this.#poolTls.add(tls);
    return tls;
  }

  /** A pool owned here: its health and changes go to every worker, named. */
  #addPool(settings: PoolConfig): ManagedPool {
    const managed = new ManagedPool(settings, { log: this.log, stateFile: this.#stateFile, backendTls: this.#tlsOf(settings), external: false });
    const pool = settings.name;
    this.events.watch(managed.pool);
    managed.pool.on('health', ({ backend, healthy, reason }) => this.#broadcast({ type: 'health', pool, id: backend.id, healthy, reason }));
    managed.pool.on('change', (change) => this.#onChange(pool, change));
    this.#pools.set(pool, managed);
    return managed;
  }

  /** The default pool (BACKENDS), or the first pool when there is none: what the admin API and metrics show. */
  get #main(): ManagedPool {
    return this.#pools.get(DEFAULT_POOL) ?? this.#pools.values().next().value!;
  }

  /** The default pool (BACKENDS), or the first pool when there is none. */
  get pool(): Pool {
    return this.#main.pool;
  }

  /** Every pool by name: changes made to one reach every worker. */
  get pools(): ReadonlyMap<string, Pool> {
    return new Map([...this.#pools].map(([name, p]) => [name, p.pool]));
  }

  /** After a change to a pool through the library (as the admin API does for the default pool): records it in STATE_FILE. */
  changed(pool: string = DEFAULT_POOL): void {
    this.#pools.get(pool)?.changed();
  }

  /** Each pool's whole backends, as a worker gets them. */
  #images(pools: Iterable<ManagedPool>): PoolImage[] {
    return [...pools].map((p) => ({ pool: p.name, backends: p.pool.backends.map(image) }));
  }

  /** Checks every backend once, then starts the workers; resolves with the port once all listen. */
  async start(): Promise<number> {
    this.log.info({ config: describeConfig(this.config), workers: this.#count }, 'starting');
    if (this.#listen.fallback !== undefined) this.log.info({ workerListen: 'shared', reason: this.#listen.fallback }, 'WORKER_LISTEN=auto: the primary accepts connections and hands them to the workers');
    if (this.#listen.mode === 'reuseport') this.#reservation = await PortReservation.take(this.config);
    await Promise.all([...this.#pools.values()].map((p) => p.start()));
    // Stored certificates go to every worker with its hello: served from the first connection.
    this.#acme?.loadStored();
    this.#ticketKeys?.start();
    if (this.#ticketKeys !== undefined && !ticketKeyHook()) {
      this.log.warn('this Node.js has no TLS ticket key callback: the previous session ticket key is not kept after a rotation (tickets issued before it make a full handshake)');
    }
    const listening = new Promise<number>((resolve, reject) => { this.#started = { resolve, reject }; });
    for (let i = 0; i < this.#count; i++) this.#fork(i);
    const port = await listening.finally(() => this.#reservation?.release());
    this.#acme?.start();
    const admin = this.config.admin;
    if (admin.port !== undefined) {
      this.#admin = new AdminServer(this.#adminTarget(), { ...admin, port: admin.port }, this.log.child({ component: 'admin' }));
      const address = await this.#admin.listen();
      this.log.info({ address: address.address, port: address.port, token: admin.token !== undefined }, 'admin listening');
    }
    this.#unwatchTls = watchBackendTls(this.#poolTls, this.log);
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
    this.#metrics ??= new Metrics({ pool: this.pool, pools: () => this.pools, counts: () => this.counts(), reloads: this.reloads });
    return this.#metrics;
  }

  /** Asks every worker for its counts and sums them, with those of workers that died. */
  async counts(withDefaults = true): Promise<Counts> {
    await this.collect(withDefaults);
    const rows = new Tally();
    rows.add(this.#retiredTally.entries());
    const process: ProcessCounts = { retries: this.#retiredCounts.retries, queued: 0, connections: 0, logLinesDropped: this.#retiredCounts.logLinesDropped };
    const workers: unknown[][] = [];
    const exemplars = new Map<string, (Exemplar | undefined)[]>();
    for (const t of this.#tallies.values()) {
      rows.add(t.rows);
      mergeExemplars(exemplars, t.exemplars);
      process.retries += t.process.retries;
      process.queued += t.process.queued;
      process.connections += t.process.connections;
      process.logLinesDropped += t.process.logLinesDropped;
      if (t.process.traceSpansDropped !== undefined) process.traceSpansDropped = (process.traceSpansDropped ?? 0) + t.process.traceSpansDropped;
      addConnections(process.backendConnections ??= {}, t.process.backendConnections);
      addRefusals(process.policyRefusals ??= {}, t.process.policyRefusals);
      addRefusals(process.hookErrors ??= {}, t.process.hookErrors);
      if (t.process.rateLimitShadow !== undefined) {
        const sum = (process.rateLimitShadow ??= {});
        for (const [route, n] of Object.entries(t.process.rateLimitShadow)) sum[route] = (sum[route] ?? 0) + n;
      }
      if (t.process.mirrored !== undefined) {
        const sum = (process.mirrored ??= {});
        for (const [outcome, n] of Object.entries(t.process.mirrored)) sum[outcome] = (sum[outcome] ?? 0) + n;
      }
      if (withDefaults && t.metrics !== undefined) workers.push(t.metrics);
    }
    // Shadow tallies of the workers alive now (those of a worker that died are lost with it).
    process.shadow = mergeShadows([...this.#tallies.values()].flatMap((t) => (t.process.shadow === undefined ? [] : [t.process.shadow])));
    return { rows: [...rows.entries()], process, workers: workers as never, exemplars };
  }

  /**
   * Reads the configuration again: each pool is brought to its new backends here (and so in
   * every worker, as changes), and the workers apply the rest; see LoadBalancer.reload. A new
   * pool reaches the workers in this order: the configuration that has it, its backends, then
   * (once it starts here) its DNS changes and health.
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
    next = signedAlike(next, this.#stickySecret);
    const restart = restartOnly(this.config, next);
    const needRestart = restart.map((s) => s.env);
    // What is in effect (and what a restarted worker gets): the old values of what needs a restart.
    next = keeping(next, this.config, restart.map((s) => s.key));
    const changes: string[] = [];
    const added: ManagedPool[] = [];
    try {
      for (const settings of next.pools) {
        const managed = this.#pools.get(settings.name);
        if (managed !== undefined) {
          changes.push(...poolChanges(settings.name, managed.configure(settings)));
        } else {
          added.push(this.#addPool(settings));
          changes.push(`added pool ${settings.name}`);
        }
      }
    } catch (err) {
      // A new pool that cannot be made (its part of STATE_FILE): the others' changes stand.
      for (const managed of added) this.#pools.delete(managed.name);
      return reloadFailed(this, err as Error);
    }
    const wanted = new Set(next.pools.map((p) => p.name));
    for (const [name, managed] of this.#pools) {
      if (wanted.has(name)) continue;
      this.#pools.delete(name);
      void managed.stop();
      changes.push(`removed pool ${name}`);
    }
    if (JSON.stringify(this.config.routes) !== JSON.stringify(next.routes)) changes.push(`routes (${next.routes.length})`);
    // The tables first: a worker asks about the new limits as soon as it has the configuration.
    this.#rates.configure(globalRateLimit(next), next.routes);
    this.#broadcast({ type: 'config', config: next });
    if (added.length > 0) this.#broadcast({ type: 'pools', pools: this.#images(added) });
    for (const managed of added) {
      managed.start().catch((err: Error) => managed.log.error({ err: err.message }, 'a new pool could not start'));
    }
    this.config = next;
    return reloaded(this, changes, needRestart);
  }

  #adminTarget(): AdminTarget {
    const primary = this;
    // The primary owns every pool: the admin API acts on them here, and workers follow.
    const pools = (): ReadonlyMap<string, AdminPool> => new Map([...this.#pools].map(([name, managed]) => {
      const settings = (): PoolConfig => this.config.pools.find((p) => p.name === name) ?? this.config.pools[0]!;
      return [name, { pool: managed.pool, strategy: () => settings().strategy, settings: () => poolSettingsSummary(settings()), changed: () => managed.changed() }];
    }));
    return {
      pool: this.pool,
      pools,
      routes: () => ({ routes: this.config.routes, table: this.config.routes.length === 0 ? undefined : RouteTable.compile(this.config.routes).describe(), policies: policyGlobals(this.config) }),
      get metrics() { return primary.metrics; },
      events: this.events,
      // Sampling needs the counts only, not the workers' default metrics.
      counts: () => this.counts(false),
      info: () => ({ strategy: this.config.strategy, version: VERSION, workers: this.#count, startedAt: STARTED_AT, tokenRequired: this.config.admin.token !== undefined, traceUrl: this.config.admin.traceUrl }),
      get draining() { return primary.#stopping; },
      describeConfig: () => ({ ...describeConfig(this.config), workers: this.#count }),
      settled: () => this.settled(),
      changed: () => this.#main.changed(),
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

  /** How the workers take connections: `reuseport` (each its own socket) or `shared` (through this process). */
  get listenMode(): ListenMode {
    return this.#listen.mode;
  }

  /** Drains every worker (each within SHUTDOWN_TIMEOUT) and stops the health checks. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.log.info({ workers: this.#workers.size }, 'shutting down');
    this.#unwatch?.();
    this.#unwatchTls?.();
    this.#acme?.stop();
    this.#ticketKeys?.stop();
    await Promise.all([...this.#pools.values()].map((p) => p.stop()));
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

  #onChange(pool: string, { kind, backend }: PoolChange): void {
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
    this.#broadcast({ type: 'change', pool, seq: this.#expect().seq, ...change });
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

  /** Sums the workers' counters into the primary's backends, pool by pool; a backend whose drain ends is told so. */
  #sumStats(): void {
    for (const [name, managed] of this.#pools) {
      const retired = this.#retired.get(name);
      for (const backend of managed.pool.backends) {
        let requests = retired?.get(backend.id) ?? 0;
        let inFlight = 0;
        for (const stats of this.#stats.values()) {
          const s = stats.get(name)?.get(backend.id);
          if (s !== undefined) { requests += s[0]; inFlight += s[1]; }
        }
        backend.setRequests(requests);
        backend.setInFlight(inFlight);
      }
    }
  }

  #fork(index: number): void {
    const startedAt = Date.now();
    const plan = this.#reservation?.plan;
    const worker = cluster.fork({ [CONFIG_ENV]: JSON.stringify(this.config), [INDEX_ENV]: String(index), [LISTEN_ENV]: plan === undefined ? '' : JSON.stringify(plan) });
    this.#workers.set(index, worker);
    worker.on('message', (message: ToPrimary) => {
      switch (message.type) {
        case 'hello':
          // The worker listens for messages now (one sent earlier could have been lost): send every pool.
          if (this.#ticketKeys !== undefined) worker.send({ type: 'tls', update: this.#tlsImage() } satisfies ToWorker);
          // The image holds every pending challenge: one sent before this worker listened needs no answer of its own.
          for (const seq of [...this.#challengeSeqs]) this.#acknowledge(index, seq);
          worker.send({ type: 'pools', pools: this.#images(this.#pools.values()) } satisfies ToWorker);
          break;
        case 'ack':
          this.#acknowledge(index, message.seq);
          break;
        case 'rate':
          worker.send({ type: 'rate', seq: message.seq, ...this.#rates.decide(message.limit, message.key) } satisfies ToWorker);
          break;
        case 'event':
          this.events.add(message.event);
          break;
        case 'outlier': {
          const managed = this.#pools.get(message.pool);
          const backend = managed?.pool.get(message.id);
          if (backend !== undefined && message.ejected) backend.countEjection();
          const log = managed?.log ?? this.log;
          if (message.ejected) log.warn({ worker: index, backend: message.id }, 'a worker ejected a backend');
          else log.info({ worker: index, backend: message.id }, 'a worker returned a backend');
          this.events.add({ kind: message.ejected ? 'ejected' : 'returned', backend: message.id, message: `${message.ejected ? 'ejected' : 'returned'} by worker ${index}` });
          break;
        }
        case 'stats':
          this.#stats.set(index, new Map(message.pools.map(({ pool, backends }) => [pool, new Map(backends.map(([id, requests, inFlight]) => [id, [requests, inFlight]]))])));
          this.#tallies.set(index, { rows: message.tally, process: message.process, metrics: message.metrics ?? this.#tallies.get(index)?.metrics, exemplars: message.exemplars ?? this.#tallies.get(index)?.exemplars });
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
      for (const [pool, stats] of this.#stats.get(index) ?? []) {
        let retired = this.#retired.get(pool);
        if (retired === undefined) this.#retired.set(pool, retired = new Map());
        for (const [id, [requests]] of stats) retired.set(id, (retired.get(id) ?? 0) + requests);
      }
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
    void Promise.all([...this.#pools.values()].map((p) => p.stop())).then(() => {
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
  log.info({ address: config.host, port, workers: workerCount(config), workerListen: primary.listenMode, strategy: config.strategy,
    available: primary.pool.available.length, backends: primary.pool.backends.length, pools: primary.pools.size, routes: primary.config.routes.length }, 'listening');
}

export { isWorker } from './cluster-protocol.js';
export { runWorker } from './cluster-worker.js';
