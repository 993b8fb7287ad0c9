import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { AdminServer, AdminToken, EventLog, policyGlobals, poolSettingsSummary, recordErrors, type AdminPool, type AdminTarget, type ReloadOutcome } from '../admin/index.js';
import { StateFile } from '../admin/state-file.js';
import { createStrategy, type Director, type Strategy } from '../balancer/index.js';
import type { Config } from '../config/index.js';
import { backendKey, countRequests, Metrics, PolicyRefusals, refusalKey, Tally, type Counts, type ProcessCounts } from '../metrics/index.js';
import { accessLog, compose, requestId, type LineSink } from '../middleware/index.js';
import type { Next } from '../middleware/chain.js';
import { isDnsBackend, type Backend, type BackendTls, type Pool } from '../pool/index.js';
import { ExplainGate, explainRequests, H2Transport, NodeTransport, ProtoTransport, ProxyError, type ConnectionStats, type Proxy, type Transport } from '../proxy/index.js';
import { AuthShared, Mirrors, refuse, Router, RouteTable, type MirrorCounts } from '../routing/index.js';
import { RATE_LIMIT_POLICY, RateLimits, type Authority } from '../rate-limit/index.js';
import { globalRateLimit } from './rate-limit-config.js';
import { DEFAULT_POOL, type PoolConfig } from '../config/pools.js';
import { HttpListener, type Listener } from '../server/index.js';
import { FastEngine } from '../engine/index.js';
import { Edge } from '../edge/index.js';
import { STARTED_AT, VERSION } from '../version.js';
import { LogDestination } from './log-destination.js';
import type { WorkerListenPlan } from './worker-listen.js';
import { createLogging, flushLogger } from './logger.js';
import { keeping, reloaded, reloadFailed, restartOnly, strategyChanged } from './reload.js';
import { describeConfig } from './reporting.js';
import { Service, type ServiceShared } from './service.js';
import { CompressionPolicy } from '../proxy/compression/index.js';
import { backendTls, poolBackendTls, watchBackendTls, watchFiles } from './tls-files.js';
import { ServerTls } from '../tls/server-tls.js';
import { clientCertificates } from '../tls/client-certificate.js';
import type { BackendTlsFiles } from '../tls/backend-tls.js';
import type { CertificateStore } from '../tls/certificate-store.js';
import { enterHooks, HookErrors, HookSet, loadHookModule, named, type Hooks, type NamedHooks } from '../hooks/index.js';
import { Tracer } from '../tracing/index.js';
import { AcmeTls, acmeOn, answerHttpChallenge, type TlsUpdate } from '../tls/acme/index.js';
import { TICKET_KEY_BYTES, TicketKeys } from '../tls/ticket-keys.js';
import { ServerContexts } from '../tls/server-contexts.js';
import type { Server as TlsServer, TlsOptions } from 'node:tls';

export interface LoadBalancerOptions {
  /** A pino logger; by default one is made from `config.log`. */
  readonly logger?: Logger;
  /** With `logger`: where its access lines may be written directly (see `createLogging`); else through the logger. */
  readonly accessLines?: LineSink;
  /** A strategy object to use instead of the one `config.strategy` names. */
  readonly strategy?: Strategy;
  /** Where rotating strategies start (worker processes use different offsets). */
  readonly strategyOffset?: number;
  /**
   * Health comes from elsewhere (a cluster worker gets it from the primary): no health checks
   * run here, and `pool.setHealth` is the caller's to call, before `start()` and after.
   */
  readonly externalHealth?: boolean;
  /**
   * Reads the configuration again (the `lb` command re-reads its file, `.env` and flags), for
   * reloads on SIGHUP and through the admin API. Throws ConfigError.
   */
  readonly loadConfig?: () => Config;
  /** Files whose change triggers a reload (the config file, `.env`); polled once a second. */
  readonly watch?: readonly string[];
  /** The clock rate limits read, in ms (`performance.now` by default): a test's own makes their decisions exact. */
  readonly now?: () => number;
  /** Where rate-limit decisions are taken instead of here (a cluster worker: the primary). */
  readonly rateAuthority?: Authority;
  /** Hooks given as objects (the library's `hooks`), run before HOOKS_MODULE's; `use` adds more. */
  readonly hooks?: readonly Hooks[];
  /** A cluster worker: ACME certificates and challenges and the session ticket key come from the primary (`applyTls`). */
  readonly tlsFromPrimary?: boolean;
  /** A cluster worker with WORKER_LISTEN=reuseport: its own SO_REUSEPORT sockets, on the ports its primary chose. */
  readonly listen?: WorkerListenPlan;
}

export interface StopResult {
  /** Requests still running at the shutdown timeout, and so cut. */
  readonly cut: number;
}

/**
 * The wiring and lifecycle: pool → health monitor, director → proxy → middleware chain →
 * listener. `start()` runs the first health round before accepting traffic; `stop()` drains.
 */
export class LoadBalancer {
  #config: Config;
  readonly log: Logger;
  /** Request counters behind the metrics. */
  readonly tally = new Tally();
  /** Health flips, ejections, changes and reloads, the newest last. */
  readonly events = new EventLog();
  /** Configuration reloads since start-up. */
  readonly reloads = { succeeded: 0, failed: 0 };
  #metrics: Metrics | undefined;
  #admin: AdminServer | undefined;
  readonly #logDestination: LogDestination | undefined;
  readonly #loadConfig: (() => Config) | undefined;
  readonly #watch: readonly string[];
  #unwatchConfig: (() => void) | undefined;
  /** Each configured pool with its strategy, proxy policy and health, by name (`default` first when there is one). */
  readonly #services = new Map<string, Service>();
  /** What every pool shares (the transport, the logger, global limits). */
  readonly #shared: ServiceShared;
  /** With routes: the table that picks a pool per request. */
  #router: Router | undefined;
  /** The chain's last step: the router, or the default pool's proxy when there are no routes. */
  #final: Next;
  readonly #mirrors: Mirrors;
  /** Requests the edge policies refused (`lb_policy_refusals_total`), kept across reloads. */
  readonly #refusals = new PolicyRefusals();
  /** Authentication filters' shared state (ForwardAuth's connections), kept across reloads. */
  readonly #auth = new AuthShared(this.#refusals);
  /** Trusted proxies and access lists (the `edge` settings, which take a restart to change). */
  readonly #edge: Edge;
  /** RATE_LIMIT and routes' RateLimit filters: their clock, log and counters. */
  readonly #rateLimits: RateLimits;
  /** How requests reach backends: the fast engine, or node:http + undici. */
  readonly #transport: Transport;
  /** The main listener (PORT), then the plain-HTTP one (HTTP_PORT) when there is one. */
  readonly #listeners: Listener[];
  /** ENGINE=fast (and its self-test passed): the HTTP/1.1 listeners' engine (plain and TLS). */
  readonly #fast: FastEngine | undefined;
  #unwatchTls: (() => void) | undefined;
  /** ACME_DOMAINS: the certificates got automatically, and in a process that orders, their manager. */
  readonly #acme: AcmeTls | undefined;
  /** The session ticket key: made here (a process alone), or the primary's (`applyTls`). */
  readonly #ticketKeys: TicketKeys | undefined;
  #ticketKey: Buffer | undefined;
  readonly #customStrategy: Strategy | undefined;
  readonly #backendTls: BackendTlsFiles;
  /** Each pool's TLS towards its backends, by pool name: BACKEND_*'s, or its own `tls:`. */
  readonly #poolTls = new Map<string, BackendTlsFiles>();
  /** The HTTPS listener's certificate files (by SNI); undefined without TLS_CERT_FILE. */
  readonly #serverTls: ServerTls | undefined;
  /** Makes every TLS context of the listener (files', ACME's): its settings and session ticket keys; undefined without TLS. */
  readonly #contexts: ServerContexts | undefined;
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  /** The hooks in effect (undefined: none anywhere, and requests never meet them). */
  #hooks: HookSet | undefined;
  /** Hooks given as objects (options.hooks, then `use`), and those of the modules last loaded. */
  readonly #libraryHooks: NamedHooks[] = [];
  #moduleHooks: { readonly global: readonly NamedHooks[]; readonly routes: ReadonlyMap<string, readonly NamedHooks[]> } = { global: [], routes: new Map() };
  /** Each load of the hook modules is a new instance of them (see loadHookModule). */
  #hookGeneration = 0;
  /** `lb_hook_errors_total`, across reloads. */
  readonly #hookErrors = new HookErrors();
  /** OpenTelemetry traces, when an OTLP endpoint is set (a restart changes it). */
  readonly #tracer: Tracer | undefined;
  #stopping: Promise<StopResult> | undefined;

  constructor(config: Config, options: LoadBalancerOptions = {}) {
    this.#config = config;
    const logging = options.logger === undefined ? createLogging(config.log) : { log: options.logger, lines: options.accessLines };
    this.log = logging.log;
    this.#logDestination = logging.lines?.destination instanceof LogDestination ? logging.lines.destination : undefined;
    this.#loadConfig = options.loadConfig;
    this.#watch = options.watch ?? [];
    this.#customStrategy = options.strategy;
    for (const [i, hooks] of (options.hooks ?? []).entries()) this.#libraryHooks.push(named(hooks, `hooks[${i}]`));
    this.#backendTls = backendTls(config);
    // TLS_CERT_FILE or ACME turns TLS on; either way every context gets the same settings and ticket keys.
    const contexts = this.#contexts = config.tls.cert === undefined && !acmeOn(config) ? undefined : new ServerContexts(config.tls);
    this.#acme = contexts !== undefined && acmeOn(config) ? new AcmeTls(config, this.log.child({ component: 'acme' }), options.tlsFromPrimary !== true, contexts) : undefined;
    this.#serverTls = contexts !== undefined && config.tls.cert !== undefined ? new ServerTls(config.tls, contexts) : undefined;
    // With TLS_CERT_FILE too, ACME's certificates join the store (SNI picks among all of them).
    if (this.#acme !== undefined && this.#serverTls !== undefined) this.#acme.certificates.attach(this.#serverTls.store);
    // ACME turns TLS on: without TLS_CERT_FILE, a name with no certificate yet fails the handshake.
    const tls = this.#serverTlsOptions();
    this.#ticketKeys = tls === undefined || options.tlsFromPrimary === true ? undefined : new TicketKeys(config.tls.ticketRotation, (keys) => {
      this.#setTicketKeys(keys);
      if (keys.length > TICKET_KEY_BYTES) this.log.info('TLS session ticket key rotated');
    });
    if (this.#ticketKeys !== undefined && contexts?.tickets.keepsPrevious === false) {
      this.log.warn('this Node.js has no TLS ticket key callback: the previous session ticket key is not kept after a rotation (tickets issued before it make a full handshake)');
    }
    // The fast engine serves HTTP/1.1, plain and over TLS (ALPN h2 goes to node:http2 as before).
    // HTTP/2 backends take node:http's requests only: configured, they mean node too.
    const h2 = usesH2(config);
    if (config.engine === 'fast' && h2) this.log.info('HTTP/2 backends are configured: the listeners use the node engine');
    this.#fast = config.engine === 'fast' && !h2 ? this.#fastEngine(config, tls !== undefined) : undefined;
    const node = (): NodeTransport => new NodeTransport({
      maxIdlePerBackend: config.http.maxIdleConnsPerHost,
      maxIdle: config.http.maxIdleConns,
      idleTimeout: config.http.idleConnTimeout,
      timeout: config.proxy.timeout,
      connectTimeout: config.proxy.connectTimeout,
      maxBodySize: config.limits.maxBodySize,
      tunnelIdleTimeout: config.websocket.idleTimeout,
      tls: this.#backendTls,
    });
    const http1 = this.#fast ?? node();
    // Backends that speak HTTP/2 (proto h2c or h2, or auto when ALPN chose h2: not under the fast
    // engine, whose requests the h2 transport cannot take) go through the h2 transport, the others
    // through the engine's; the fast engine's listeners hand h2c clients to node:http2, whose
    // requests reach HTTP/1.1 backends through the node transport.
    this.#transport = new ProtoTransport(http1, new H2Transport({
      maxIdlePerBackend: config.http.maxIdleConnsPerHost,
      maxIdle: config.http.maxIdleConns,
      idleTimeout: config.http.idleConnTimeout,
      connectTimeout: config.proxy.connectTimeout,
      maxBodySize: config.limits.maxBodySize,
      tunnelIdleTimeout: config.websocket.idleTimeout,
      tls: this.#backendTls,
    }), this.#fast === undefined, this.#fast === undefined ? http1 : node());
    this.#shared = {
      log: this.log,
      transport: this.#transport,
      backendTls: this.#backendTls,
      backendTlsFor: (settings) => this.#backendTlsOf(settings),
      // With an admin token, a request carrying it in X-LB-Explain is told how it was routed.
      explainGate: config.admin.token === undefined ? undefined : new ExplainGate(new AdminToken(config.admin.token)),
      stateFile: config.stateFile === undefined ? undefined : new StateFile(config.stateFile),
      limits: config.limits,
      externalHealth: options.externalHealth === true,
      strategyOffset: options.strategyOffset ?? 0,
      // The pool is looked for only until the backend's row is bound (its first count).
      onGatewayFailure: (backend) => this.tally.gatewayFailure(backend, backend.metricsRow === undefined ? this.#poolOf(backend) : DEFAULT_POOL),
      started: () => this.#state !== 'new',
      compression: { policy: compressionPolicy(config) },
    };
    for (const pool of config.pools) this.#addService(pool);
    this.#mirrors = new Mirrors(this.#backendTls, this.log.child({ component: 'mirror' }));
    this.#edge = new Edge(config.edge, this.log, this.#refusals);
    const proxyGate = this.#edge.proxyGate;
    this.#rateLimits = new RateLimits(undefined, this.log.child({ component: 'rate-limit' }), options.now ?? performance.now.bind(performance), options.rateAuthority);
    this.#final = this.#route(config);
    const clientAddress = this.#edge.clientAddress();
    this.#tracer = Tracer.create(config.tracing, this.log.child({ component: 'tracing' }));
    // With an admin token: whether a request asks to be explained is read once, before the policies that note their decisions.
    const explainGate = this.#shared.explainGate;
    const access = config.log.access === false ? [] : [accessLog(this.log, logging.lines, { format: config.log.accessFormat, sample: config.log.accessSample })];
    // TLS_CLIENT_AUTH: each request is given its connection's verified certificate (routes match on it, backends get it).
    const certificates = tls !== undefined && config.tls.clientAuth !== 'off' ? [clientCertificates()] : [];
    // Tracing before the access log: its end decides whether the trace is kept, and so whether the line carries its ids.
    const chain = compose([requestId(), ...(this.#tracer === undefined ? [] : [this.#tracer.middleware()]), ...access, countRequests(this.tally), recordErrors(this.events),
      ...(clientAddress === undefined ? [] : [clientAddress]), ...certificates,
      ...(this.#acme === undefined ? [] : [this.#acme.middleware]), ...(explainGate === undefined ? [] : [explainRequests(explainGate)])],
      (ctx) => { const hooks = this.#hooks; if (hooks === undefined) this.#final(ctx); else enterHooks(hooks, ctx, this.#final); });
    const fast = this.#fast;
    const own = options.listen;
    const reusePort = own?.reusePort === true;
    this.#listeners = [fast !== undefined
      ? fast.listener(chain, { host: config.host, port: own?.port ?? config.port, limits: config.limits, tls, proxyGate, reusePort }, this.log)
      : new HttpListener(chain, { host: config.host, port: own?.port ?? config.port, limits: config.limits, tls, proxyGate, reusePort }, this.log)];
    const acme = this.#acme;
    if (tls !== undefined && config.tls.httpPort !== undefined) {
      this.#listeners.push(fast !== undefined && !config.tls.redirect
        ? fast.listener(chain, { host: config.host, port: own?.httpPort ?? config.tls.httpPort, limits: config.limits, proxyGate, reusePort }, this.log)
        : new HttpListener(chain, {
          host: config.host, port: own?.httpPort ?? config.tls.httpPort, limits: config.limits, proxyGate, reusePort,
          redirectToPort: config.tls.redirect ? () => this.#listeners[0]!.address.port : undefined,
          challengeAnswer: acme === undefined ? undefined : (req, res) => answerHttpChallenge(acme.challenges, req, res),
        }, this.log));
    }
    // The server's own context (made by Node) takes the ticket keys too, and again whenever it is replaced.
    if (contexts !== undefined) this.#adoptServerContext(contexts);
    // A certificate set or reloaded may change the default one: what clients without SNI get is the server's own context.
    const serverTls = this.#serverTls;
    serverTls?.store.onChange(() => {
      this.#listeners[0]!.setSecureContext(this.#serverTlsOptions()!);
      this.#adoptServerContext(serverTls.contexts);
    });
  }

  /** The TLS of a pool's backends, made once per pool name (see poolBackendTls). */
  #backendTlsOf(settings: PoolConfig): BackendTls {
    let tls = this.#poolTls.get(settings.name);
    if (tls === undefined) this.#poolTls.set(settings.name, tls = poolBackendTls(settings, this.#config, this.#backendTls));
    return tls;
  }

  /** The certificates the HTTPS listener serves (SNI): where automatic certificates are added at run time; undefined without TLS. */
  get certificates(): CertificateStore | undefined {
    return this.#serverTls?.store;
  }

  #addService(settings: PoolConfig): Service {
    const isDefault = settings.name === DEFAULT_POOL;
    const service = new Service(settings, this.#shared, isDefault ? { strategy: this.#customStrategy, strategyModule: this.#config.strategyModule } : {});
    this.events.watch(service.pool);
    this.#services.set(settings.name, service);
    return service;
  }

  /** The chain's last step for `config`: its routes, or straight to the default pool without any. */
  #route(config: Config): Next {
    const fallback = this.#services.get(DEFAULT_POOL);
    this.#rateLimits.configure(globalRateLimit(config));
    if (config.routes.length === 0 && fallback !== undefined) {
      this.#router = undefined;
      const edge = this.#edge;
      // Without RATE_LIMIT, nothing in the way: the pool's own handler.
      const proxy = this.#rateLimits.global === undefined ? fallback.proxy.handle : this.#rateLimits.guard(fallback.proxy.handle);
      return edge.accessList === undefined ? proxy : (ctx) => { if (edge.admit(ctx, undefined)) proxy(ctx); else refuse(ctx); };
    }
    // Routes, or pools without routes and without a default pool (every request is then a 404: nothing routes it).
    if (this.#router === undefined) this.#router = new Router(config.routes, this.#services, this.#mirrors, this.log.child({ component: 'router' }), this.#rateLimits, this.#edge, this.#auth);
    else this.#router.replace(config.routes, this.#services);
    return this.#router.handle;
  }

  /** The name of the pool `backend` belongs to (the default when it is in none now). */
  #poolOf(backend: Backend): string {
    for (const [name, service] of this.#services) if (service.pool.get(backend.id) === backend) return name;
    return DEFAULT_POOL;
  }

  /** The default pool, or the first configured when routes leave none (what `pool` and `director` are). */
  get #main(): Service {
    return this.#services.get(DEFAULT_POOL) ?? this.#services.values().next().value!;
  }

  /** The default pool (BACKENDS), or the first pool when there is none. */
  get pool(): Pool {
    return this.#main.pool;
  }

  /** The default pool's director. */
  get director(): Director {
    return this.#main.director;
  }

  /** Every pool by name: the live pool API of each (`pools.get('api')?.add(...)`). */
  get pools(): ReadonlyMap<string, Pool> {
    return new Map([...this.#services].map(([name, s]) => [name, s.pool]));
  }

  /** Every pool with its strategy, proxy policy and health, by name. */
  get services(): ReadonlyMap<string, Service> {
    return this.#services;
  }

  /** The routing table in effect, when routes are configured. */
  get routes(): RouteTable | undefined {
    return this.#router?.table;
  }

  /** Copies sent by RequestMirror filters, by outcome. */
  get mirrored(): MirrorCounts {
    return this.#mirrors.counts;
  }

  /** The fast engine, unless its self-test finds Node's parser other than it expects (then node:http, with a warning). */
  #fastEngine(config: Config, tls: boolean): FastEngine | undefined {
    const problem = FastEngine.check(tls);
    if (problem !== undefined) {
      this.log.warn({ problem }, 'ENGINE=fast is not available on this Node.js: using the node engine');
      return undefined;
    }
    return new FastEngine({
      maxIdlePerBackend: config.http.maxIdleConnsPerHost,
      maxIdle: config.http.maxIdleConns,
      idleTimeout: config.http.idleConnTimeout,
      connectTimeout: config.proxy.connectTimeout,
      maxBodySize: config.limits.maxBodySize,
      tunnelIdleTimeout: config.websocket.idleTimeout,
      tls: this.#backendTls,
    });
  }

  /** The configuration in effect (a reload replaces it). */
  get config(): Config {
    return this.#config;
  }

  /** The listening address, once started. */
  get address(): AddressInfo | undefined {
    return this.#state === 'running' || this.#state === 'stopping' ? this.#listeners[0]!.address : undefined;
  }

  /** Every listening address: PORT first, then HTTP_PORT when set. */
  get addresses(): AddressInfo[] {
    return this.#listeners.map((l) => l.address);
  }

  /** The Prometheus metrics of this balancer (made on first use). */
  get metrics(): Metrics {
    this.#metrics ??= new Metrics({ pool: this.pool, pools: () => this.pools, counts: () => this.counts(), reloads: this.reloads });
    return this.#metrics;
  }

  /** The admin listener's address, when ADMIN_PORT is set and the balancer is running. */
  get adminAddress(): AddressInfo | undefined {
    return this.#admin?.server.listening === true ? this.#admin.server.address() as AddressInfo : undefined;
  }

  /** This process's counters as of now. */
  async processCounts(): Promise<ProcessCounts> {
    const connections = await Promise.all(this.#listeners.map((l) => l.connections()));
    return {
      shadow: this.#main.proxy.shadows?.image(),
      retries: this.#sum((p) => p.retried),
      queued: this.#sum((p) => p.queued),
      connections: connections.reduce((a, b) => a + b, 0),
      mirrored: this.#config.routes.some((r) => r.filters.some((f) => f.type === 'RequestMirror')) ? mirrorOutcomes(this.#mirrors.counts) : undefined,
      logLinesDropped: this.#logDestination?.droppedTotal ?? 0,
      traceSpansDropped: this.#tracer?.exporter.dropped,
      policyRefusals: this.#policyRefusals(),
      hookErrors: this.#hookErrors.image(),
      rateLimitShadow: this.#rateLimits.counts.shadow.size === 0 ? undefined : Object.fromEntries(this.#rateLimits.counts.shadow),
      backendConnections: Object.fromEntries([...this.#services.values()].flatMap((s) => s.pool.backends.map((b) => {
        const stats = this.#transport.connections(b);
        return [backendKey(s.name, b.id), [stats.busy, stats.idle]];
      }))),
    };
  }

  /** Requests the edge policies refused: the access lists' and the authentication filters', and the rate limits' (counted by route where they decide). */
  #policyRefusals(): Record<string, number> | undefined {
    const image = this.#refusals.image() ?? {};
    for (const [route, n] of this.#rateLimits.counts.refused) image[refusalKey(RATE_LIMIT_POLICY, route)] = n;
    return Object.keys(image).length === 0 ? undefined : image;
  }

  /** What a scrape of this process reads. */
  async counts(): Promise<Counts> {
    return { rows: [...this.tally.entries()], process: await this.processCounts(), exemplars: this.tally.exemplars() };
  }

  /** The connections to a backend now (this process's), busy and idle. */
  connections(backend: Backend): ConnectionStats {
    return this.#transport.connections(backend);
  }

  /**
   * Adds hooks for every request from now on, after those given before (options.hooks, earlier
   * `use`) and before HOOKS_MODULE's: the library's middleware. Kept across reloads.
   */
  use(hooks: Hooks): this {
    this.#libraryHooks.push(named(hooks, `use[${this.#libraryHooks.length}]`));
    if (this.#state !== 'new') this.#buildHooks(this.#config);
    return this;
  }

  /** Loads the configuration's hook modules (a new instance each time) and puts them in effect. */
  async #loadHooks(config: Config): Promise<void> {
    const paths = new Set([...config.hooks, ...config.routes.flatMap((r) => r.hooks ?? [])]);
    if (paths.size > 0) {
      const generation = this.#hookGeneration++;
      const log = this.log.child({ component: 'hooks' });
      const loaded = new Map<string, NamedHooks>();
      for (const path of paths) loaded.set(path, await loadHookModule(path, { log }, generation));
      this.#moduleHooks = {
        global: config.hooks.map((p) => loaded.get(p)!),
        routes: new Map(config.routes.filter((r) => r.hooks !== undefined).map((r): [string, NamedHooks[]] => [r.name, r.hooks!.map((p) => loaded.get(p)!)])),
      };
    } else {
      this.#moduleHooks = { global: [], routes: new Map() };
    }
    this.#buildHooks(config);
  }

  #buildHooks(config: Config): void {
    const set = new HookSet([...this.#libraryHooks, ...this.#moduleHooks.global], this.#moduleHooks.routes, {
      timeout: config.hookTimeout, errors: this.#hookErrors, log: this.log, targets: () => this.#services,
    });
    this.#hooks = set.empty ? undefined : set;
    if (!set.empty) this.log.info({ hooks: set.describe() }, 'hooks in effect');
  }

  /** Attempts in flight now, and how many of them are retries: 0 and 0 when idle (tunnels are not attempts). */
  get attempts(): { readonly active: number; readonly retrying: number } {
    return { active: this.#sum((p) => p.active), retrying: this.#sum((p) => p.retrying) };
  }

  /** A count over every pool's proxy. */
  #sum(count: (proxy: Proxy) => number): number {
    let n = 0;
    for (const service of this.#services.values()) n += count(service.proxy);
    return n;
  }

  /** Requests being proxied right now, open tunnels included. */
  get inFlight(): number {
    return this.#listeners.reduce((n, l) => n + l.inFlight, 0);
  }

  /**
   * Re-reads every pair of TLS_CERT_FILE and TLS_KEY_FILE (on SIGHUP). New connections get the
   * new certificates; open ones keep theirs. A bad pair keeps its old one and logs why.
   */
  reloadTls(): boolean {
    return this.#serverTls?.reload(this.log) ?? false;
  }

  /** Watches every certificate pair of the listener and the backend TLS files: each is read again on its own when it changes. */
  #watchTls(): () => void {
    const unwatch: (() => void)[] = [];
    const server = this.#serverTls;
    if (server !== undefined) {
      for (const pair of server.pairs) unwatch.push(watchFiles([pair.cert, pair.key], () => server.reload(this.log, pair)));
    }
    unwatch.push(watchBackendTls([this.#backendTls, ...this.#poolTls.values()], this.log));
    return () => { for (const u of unwatch) u(); };
  }

  /**
   * The TLS listener's options: TLS_CERT_FILE's certificates (chosen by SNI) and client
   * certificates, with ACME's SNI and ALPN steps over them (a validation handshake gets its
   * challenge certificate); undefined without TLS.
   */
  #serverTlsOptions(): TlsOptions | undefined {
    if (this.#contexts === undefined) return undefined;
    const files = this.#serverTls?.serverOptions() ?? this.#contexts.serverOptions();
    const acme = this.#acme?.serverOptions();
    if (acme === undefined) return files;
    return { ...files, ...acme };
  }

  /** Gives the HTTPS listener's own context the session ticket keys (see ServerContexts.adopt). */
  #adoptServerContext(contexts: ServerContexts): void {
    const listener = this.#listeners[0];
    // The HTTPS listener, the node engine's or the fast one's: either has node:http2's TLS server.
    if (listener === undefined || listener.proto !== 'https') return;
    if (!contexts.adopt(listener.server as unknown as TlsServer)) this.log.warn('the TLS server\'s own context cannot be reached: session tickets of clients without SNI may not resume across workers');
  }

  /** TLS material from a cluster's primary: ACME certificates and challenges, the session ticket keys. */
  applyTls(update: TlsUpdate): void {
    this.#acme?.apply(update);
    if (update.ticketKeys !== undefined) this.#setTicketKeys(Buffer.from(update.ticketKeys, 'base64'));
  }

  /**
   * The session ticket keys (the current, then the previous) for every TLS context of this
   * process: the listener's own and those chosen by SNI all read them from one SessionTickets.
   */
  #setTicketKeys(keys: Buffer): void {
    this.#ticketKey = keys;
    this.#contexts?.tickets.set(keys);
  }

  /** What the admin API acts on in a single process. */
  #adminTarget(): AdminTarget {
    const lb = this;
    const views = new WeakMap<Service, AdminPool>();
    // A view per service, made once: a reload may add or remove pools, so the map is read each time.
    const view = (service: Service): AdminPool => {
      let v = views.get(service);
      if (v === undefined) {
        views.set(service, v = {
          pool: service.pool,
          strategy: () => service.director.strategy.name,
          settings: () => poolSettingsSummary(service.settings),
          changed: () => service.keeper?.changed(service.pool),
        });
      }
      return v;
    };
    return {
      get pool() { return lb.pool; },
      pools: () => new Map([...this.#services].map(([name, service]) => [name, view(service)])),
      routes: () => ({ routes: this.config.routes, table: this.routes?.describe(), policies: policyGlobals(this.config) }),
      get metrics() { return lb.metrics; },
      events: this.events,
      counts: () => this.counts(),
      info: () => ({ strategy: this.director.strategy.name, version: VERSION, workers: 0, startedAt: STARTED_AT, tokenRequired: this.config.admin.token !== undefined, traceUrl: this.config.admin.traceUrl }),
      get draining() { return lb.#state !== 'running'; },
      describeConfig: () => describeConfig(this.config),
      settled: () => Promise.resolve(),
      changed: () => this.#main.changed(),
      reload: () => Promise.resolve(this.reload()),
    };
  }

  /**
   * Reads the configuration again and applies it without dropping a connection: the pool is
   * brought to the new backends (runtime changes kept), and the strategy, retries, queue size,
   * health checks and log level change for what comes next. Settings that need a restart are
   * named in a warning. An invalid configuration changes nothing.
   */
  /** Whether `reload()` has a configuration to read. */
  get reloadable(): boolean {
    return this.#loadConfig !== undefined;
  }

  reload(): ReloadOutcome {
    if (this.#loadConfig === undefined) return { ok: false, error: 'this balancer has no configuration source to reload from' };
    let next: Config;
    try {
      next = this.#loadConfig();
    } catch (err) {
      return reloadFailed(this, err as Error);
    }
    return this.applyConfig(next);
  }

  /** Applies a new configuration (see `reload`); a cluster worker is given its primary's. */
  applyConfig(next: Config): ReloadOutcome {
    const before = this.#config;
    const restart = restartOnly(before, next);
    const needRestart = restart.map((s) => s.env);
    const changes: string[] = [];
    const added: Service[] = [];
    const leaving: Service[] = [];
    try {
      // A strategy that cannot be made fails the reload before anything changes.
      if (!this.#customStrategy && next.strategyModule === undefined) {
        for (const pool of next.pools) if (strategyChanged(this.#services.get(pool.name)?.settings ?? pool, pool)) createStrategy(pool.strategy, { hashKey: pool.hash.key, loadFactor: pool.hash.loadFactor, fallback: pool.hash.fallback });
      }
      RouteTable.compile(next.routes);
    } catch (err) {
      return reloadFailed(this, err as Error);
    }
    this.#shared.compression.policy = compressionPolicy(next);
    for (const pool of next.pools) {
      const service = this.#services.get(pool.name);
      if (service !== undefined) {
        changes.push(...service.configure(pool, pool.name === DEFAULT_POOL ? next.strategyModule : undefined));
      } else {
        added.push(this.#addService(pool));
        changes.push(`added pool ${pool.name}`);
      }
    }
    const wanted = new Set(next.pools.map((p) => p.name));
    for (const [name, service] of this.#services) {
      if (wanted.has(name)) continue;
      this.#services.delete(name);
      leaving.push(service);
      changes.push(`removed pool ${name}`);
    }
    // New pools are checked before routes send them traffic; the table changes in one step.
    // A new pool that cannot start (its DNS lookups or first checks failed) is routed to all the
    // same: its backends are not available, so its routes answer 503 as any pool without one does.
    void Promise.all(added.map((s) => this.#startService(s).catch((err: Error) => s.log.error({ err: err.message }, 'a new pool could not start')))).then(() => {
      this.#config = keeping(next, before, restart.map((s) => s.key));
      this.#final = this.#route(this.#config);
      for (const service of leaving) void this.#retire(service);
    });
    if (JSON.stringify(before.routes) !== JSON.stringify(next.routes)) changes.push(`routes (${next.routes.length})`);
    // New instances of the hook modules for new requests; requests in flight keep theirs. A module
    // that cannot be loaded keeps the hooks in effect.
    if (this.#hooks !== undefined || usesHooks(next)) {
      void this.#loadHooks(next).catch((err: Error) => this.log.error({ err: err.message }, 'hook modules could not be reloaded: keeping the hooks in effect'));
    }
    if (next.log.level !== before.log.level) this.log.level = next.log.level;
    // What is in effect: the new values, but the old ones of what needs a restart.
    this.#config = keeping(next, before, restart.map((s) => s.key));
    if (added.length === 0) {
      this.#final = this.#route(this.#config);
      for (const service of leaving) void this.#retire(service);
    }
    return reloaded(this, changes, needRestart);
  }

  /** A pool added by a reload: attached and checked, then routed to. */
  async #startService(service: Service): Promise<void> {
    await service.start();
    service.armSlowStart();
  }

  /** A pool a reload removed: no new requests reach it; those in flight finish, then its connections close. */
  async #retire(service: Service): Promise<void> {
    await service.stopChecks();
    await Promise.all(service.pool.backends.map((b) => b.whenIdle()));
    await service.close();
  }

  /**
   * Checks every backend once, then listens. Resolves with the traffic listener's address
   * (`address`, `family`, `port`; with `port: 0`, the port the system picked; with TLS, the HTTPS
   * listener's); the admin listener's is `adminAddress`. Rejects (and cleans up) when a port
   * cannot be bound.
   */
  async start(): Promise<AddressInfo> {
    if (this.#state !== 'new') throw new Error(`cannot start a load balancer that is ${this.#state}`);
    this.#state = 'starting';
    const { config } = this;
    // A cluster worker's configuration is the primary's, which the primary logs.
    if (this.#shared.externalHealth) this.log.debug({ config: describeConfig(config) }, 'starting');
    else this.log.info({ config: describeConfig(config) }, 'starting');
    if (config.backendTls.insecure) {
      this.log.warn('BACKEND_TLS_INSECURE is set: https:// backends are NOT verified; anyone on the path can impersonate them');
    }
    if (this.#fast !== undefined) {
      const problem = await FastEngine.checkIo();
      if (problem !== undefined) this.log.warn({ problem }, 'ENGINE=fast: direct socket I/O does not work on this Node.js: what fails goes through net\'s streams');
    }
    try {
      await this.#loadHooks(config);
      await Promise.all([...this.#services.values()].map((s) => s.start()));
      // Backends found up by the first checks are as warm as they will get; later ones ramp up.
      for (const service of this.#services.values()) service.armSlowStart();
      // Certificates in storage are served from the first connection; orders wait for the listeners (validation reaches them).
      this.#acme?.manager?.loadStored();
      this.#ticketKeys?.start();
      for (const listener of this.#listeners) {
        const address = await listener.listen();
        // node:cluster gives a worker's TLS server, as it listens, the ticket key the first worker had
        // when it listened: after a rotation, a stale one. Without the ticket key callback (the keys
        // then live in each context), the ones this process was given, again.
        if (listener === this.#listeners[0] && this.#ticketKey !== undefined) this.#setTicketKeys(this.#ticketKey);
        this.log.info({ address: address.address, port: address.port, proto: listener.proto, engine: listener.engine, strategy: this.director.strategy.name,
          available: this.pool.available.length, backends: this.pool.backends.length, pools: this.#services.size, routes: config.routes.length },
          this.#shared.externalHealth ? 'worker listening' : 'listening');
      }
      if (config.admin.port !== undefined && !this.#shared.externalHealth) {
        this.#admin = new AdminServer(this.#adminTarget(), { ...config.admin, port: config.admin.port }, this.log.child({ component: 'admin' }));
        const admin = await this.#admin.listen();
        this.log.info({ address: admin.address, port: admin.port, token: config.admin.token !== undefined }, 'admin listening');
      }
      this.#state = 'running';
      if (this.#watch.length > 0 && this.#loadConfig !== undefined) {
        this.#unwatchConfig = watchFiles(this.#watch, () => {
          this.log.info({ files: this.#watch }, 'configuration file changed: reloading');
          this.reload();
        }, 1000);
      }
      this.#unwatchTls = this.#watchTls();
      this.#acme?.manager?.start();
      return this.#listeners[0]!.address;
    } catch (err) {
      this.#state = 'stopped';
      await Promise.all([...this.#services.values()].map((s) => s.stopChecks()));
      for (const listener of this.#listeners) if (listener.server.listening) listener.server.close();
      await this.#admin?.close();
      await Promise.all([...this.#services.values()].map((s) => s.close(err as Error)));
      await this.#mirrors.close();
      throw err;
    }
  }

  /**
   * Graceful stop: stop accepting, stop health checks, let requests in flight finish within
   * `shutdown.timeout` (then cut them and log how many), close upstream pools.
   */
  stop(): Promise<StopResult> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<StopResult> {
    const wasRunning = this.#state === 'running';
    this.#state = 'stopping';
    const timeout = this.config.shutdown.timeout;
    this.log.info({ inFlight: this.inFlight, timeout }, 'shutting down');
    for (const service of this.#services.values()) service.proxy.draining = true;
    this.#unwatchTls?.();
    this.#unwatchConfig?.();
    this.#ticketKeys?.stop();
    this.#acme?.manager?.stop();
    const [cut] = await Promise.all([
      wasRunning ? this.#drain(timeout) : Promise.resolve(0),
      ...[...this.#services.values()].map((s) => s.stopChecks()),
    ]);
    if (cut > 0) this.log.warn({ cut, timeout }, 'shutdown timeout reached: requests cut');
    await Promise.all([...this.#services.values()].map((s) => s.close()));
    await this.#mirrors.close();
    await this.#auth.close();
    await this.#transport.close();
    await this.#admin?.close();
    // Every request has ended (and been recorded): what is queued goes to the collector now.
    await this.#tracer?.shutdown();
    this.#state = 'stopped';
    this.log.info({ cut }, 'stopped');
    flushLogger(this.log);
    return { cut };
  }

  /** Stop accepting, close idle connections, wait for requests (tunnels included); cut what is left at the timeout. */
  async #drain(timeout: number): Promise<number> {
    const closed = this.#listeners.map((l) => l.stopAccepting());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.#listeners.map((l) => l.whenIdle())),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, timeout); }),
    ]);
    clearTimeout(timer);
    const cut = this.inFlight;
    // Requests still waiting on a backend are answered 503 (or cut, once their response has
    // started), each with its access line; then every connection left is closed.
    if (cut > 0) {
      await this.#transport.cut(SHUTDOWN_CUT);
    }
    for (const listener of this.#listeners) listener.closeAll();
    // A destroyed socket says 'close' a turn of the event loop later: wait for those, so that
    // every request cut here gets its access line before the process exits.
    await Promise.all([...closed, ...this.#listeners.map((l) => l.whenIdle())]);
    return cut;
  }
}

/** Whether a configuration names any hook module (HOOKS_MODULE, or a route's hooks). */
function usesHooks(config: Config): boolean {
  return config.hooks.length > 0 || config.routes.some((r) => r.hooks !== undefined);
}

/** Mirror counts by the outcome label `lb_mirror_requests_total` gives them. */
function mirrorOutcomes(c: MirrorCounts): Record<string, number> {
  return { sent: c.sent, answered: c.answered, failed: c.failed, skipped_busy: c.skippedBusy, skipped_no_backend: c.skippedNoBackend, skipped_body: c.skippedBody };
}

const SHUTDOWN_CUT = new ProxyError('LB_ERR_SHUTDOWN', 'still running at the shutdown timeout');

/** Whether any pool speaks HTTP/2 to some of its backends (its `proto:`, or an entry's own). */
function usesH2(config: Config): boolean {
  const h2 = (proto: string | undefined): boolean => proto === 'h2' || proto === 'h2c';
  return config.pools.some((pool) => h2(pool.proto) || pool.backends.some((b) => !isDnsBackend(b) && h2(b.proto)));
}

/** COMPRESSION's policy; undefined when it is off (nothing is done per request but one check). */
function compressionPolicy(config: Config): CompressionPolicy | undefined {
  return config.compression.encodings.length === 0 ? undefined : new CompressionPolicy(config.compression);
}
