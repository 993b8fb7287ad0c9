import { summarizeShadows, weightsIgnored } from '../balancer/index.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/index.js';
import { InvalidBackend, type Backend, type Pool } from '../pool/index.js';
import type { EventLog } from './events.js';
import { backendKey, foldRows, wantsOpenMetrics, type Counts } from '../metrics/index.js';
import { Sampler } from './sampler.js';
import { AdminToken } from './token.js';
import { Canaries } from './canary.js';
import { serveAsset } from './assets.js';
import { ApiError, asApiError, canarySpec, checkWeight, invalid, notAllowed, object, readJson, send } from './api-input.js';
import { describePool, describeRoute, type AdminPool, type RoutesView } from './pools-api.js';
import { defaultPolicies, effectivePolicies } from './policies-api.js';

/** What the admin API acts on: a LoadBalancer, or a cluster's primary. */
export interface AdminTarget {
  /** The default pool (the first when there is none): what `/api/backends` and `/readyz` act on. */
  readonly pool: Pool;
  /** Every pool by name, `pool` among them (`/api/pools/NAME/...`). */
  pools(): ReadonlyMap<string, AdminPool>;
  /** The routes as configured, and the compiled table's description (`/api/routes`). */
  routes(): RoutesView;
  readonly metrics: Metrics;
  readonly events: EventLog;
  /** Fresh request counts of every process, sampled each second for the dashboard. */
  counts(): Promise<Counts>;
  /** What the dashboard's header shows besides the samples. */
  info(): { strategy: string; version: string; workers: number; startedAt: number; tokenRequired: boolean; traceUrl?: string | undefined };
  /** True once the balancer is shutting down. */
  readonly draining: boolean;
  /** The effective configuration, secrets redacted. */
  describeConfig(): object;
  /** Resolves once every process has applied the changes made so far (at once in one process). */
  settled(): Promise<void>;
  /** Called after each change made through the API to `pool` (the state file is written here). */
  changed(): void;
  /** Reloads the configuration (as SIGHUP does); resolves with what happened. */
  reload(): Promise<ReloadOutcome>;
}

export interface ReloadOutcome {
  readonly ok: boolean;
  readonly error?: string;
  /** Settings that changed but need a restart to take effect. */
  readonly needRestart?: readonly string[];
  readonly changes?: readonly string[];
}

export interface AdminOptions {
  readonly host: string;
  readonly port: number;
  readonly token: string | undefined;
}

const NO_TOKEN = 'changes need a token: start the balancer with ADMIN_TOKEN set (at least 16 characters), then send it as "Authorization: Bearer <token>"';

/**
 * The admin listener (ADMIN_HOST:ADMIN_PORT, never the traffic port): probes, Prometheus
 * metrics and a JSON API that reads and changes the pool. With ADMIN_TOKEN set, everything but
 * `/metrics`, `/healthz` and `/readyz` needs `Authorization: Bearer <token>`; without one, reads
 * are open (the listener is on loopback then) and changes are refused.
 */
export class AdminServer {
  readonly server: Server;
  readonly #target: AdminTarget;
  readonly #token: AdminToken | undefined;
  readonly #options: AdminOptions;
  readonly #log: Logger;
  readonly #streams = new Set<ServerResponse>();
  /** Per-second samples for the dashboard, from the listener's start. */
  readonly #sampler: Sampler;
  /** Guarded pool changes (`"canary"` on POST and PATCH), one per pool, by pool name. */
  readonly #canaries = new Map<string, Canaries>();

  constructor(target: AdminTarget, options: AdminOptions, log: Logger) {
    this.#target = target;
    this.#options = options;
    this.#log = log;
    this.#token = options.token === undefined ? undefined : new AdminToken(options.token);
    this.#sampler = new Sampler(target.pool, this.#countsOf(this.#mainName()), {
      spike: (retries, rps) => target.events.retrySpike(retries, rps),
      error: (err) => log.warn({ err: err.message }, 'dashboard sampling failed'),
    });
    this.server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => void this.#handle(req, res));
  }

  /** Listens, and starts sampling for the dashboard (so that a page opened late shows the recent past). */
  listen(): Promise<AddressInfo> {
    this.#sampler.start();
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.#options.host, port: this.#options.port }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    this.#sampler.stop();
    for (const canaries of this.#canaries.values()) canaries.stop();
    for (const stream of this.#streams) stream.end();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    try {
      if (method === 'GET' && serveAsset(path, res)) return;
      if (path === '/healthz' || path === '/readyz' || path === '/metrics') {
        if (method !== 'GET' && method !== 'HEAD') throw new ApiError(405, 'method_not_allowed', `${method} ${path}: use GET`);
        await this.#open(path, res, req.headers.accept);
        return;
      }
      this.#authorize(req, method);
      await this.#api(req, res, method, path, url);
    } catch (err) {
      if (err instanceof ApiError) {
        if (err.status === 401) res.setHeader('www-authenticate', 'Bearer realm="lb admin"');
        send(res, err.status, { error: { code: err.code, message: err.message } });
      } else {
        this.#log.error({ err, method, path }, 'admin request failed');
        send(res, 500, { error: { code: 'internal', message: (err as Error).message } });
      }
    }
  }

  async #open(path: string, res: ServerResponse, accept: string | undefined): Promise<void> {
    const target = this.#target;
    if (path === '/healthz') {
      send(res, 200, { status: 'ok' });
    } else if (path === '/readyz') {
      const available = target.pool.available.length;
      const ready = available > 0 && !target.draining;
      send(res, ready ? 200 : 503, { ready, available, draining: target.draining });
    } else {
      // OpenMetrics (with exemplars) when the scraper asks for it; the text format otherwise.
      const openMetrics = wantsOpenMetrics(accept);
      const text = await target.metrics.text(openMetrics);
      res.writeHead(200, { 'content-type': target.metrics.contentTypeOf(openMetrics), 'cache-control': 'no-store', vary: 'accept' }).end(text);
    }
  }

  /** Every API call needs the token when one is set; without one, only reads are allowed. */
  #authorize(req: IncomingMessage, method: string): void {
    const write = method !== 'GET' && method !== 'HEAD';
    if (this.#token === undefined) {
      if (write) throw new ApiError(403, 'no_token_configured', NO_TOKEN);
      return;
    }
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null) throw new ApiError(401, 'unauthorized', 'send "Authorization: Bearer <ADMIN_TOKEN>"');
    if (!this.#token.matches(match[1]!)) throw new ApiError(403, 'forbidden', 'the token is not ADMIN_TOKEN');
  }

  async #api(req: IncomingMessage, res: ServerResponse, method: string, path: string, url: URL): Promise<void> {
    const target = this.#target;
    const parts = path.split('/').filter((p) => p !== '');
    if (parts[0] !== 'api') throw new ApiError(404, 'not_found', `no such endpoint: ${path}`);
    const resource = parts[1];
    if (resource === 'shadow' && parts.length === 2) {
      if (method !== 'GET') throw notAllowed(method, path, 'GET');
      const image = (await target.counts()).process.shadow;
      if (image === undefined) throw new ApiError(404, 'shadow_off', 'no shadow strategies: set SHADOW_STRATEGIES, such as peak-ewma,least-connections');
      return send(res, 200, summarizeShadows(image));
    }
    if (resource === 'backends') {
      const name = this.#mainName();
      return this.#backends(req, res, method, path, parts.slice(2), name, this.#scope(name));
    }
    if (resource === 'pools') {
      if (parts.length === 2) {
        if (method !== 'GET') throw notAllowed(method, path, 'GET');
        const main = target.pool;
        return send(res, 200, { pools: [...target.pools()].map(([name, p]) => describePool(name, p, p.pool === main)) });
      }
      const name = decodeURIComponent(parts[2]!);
      const scope = this.#scope(name);
      if (parts.length === 3) {
        if (method !== 'GET') throw notAllowed(method, path, 'GET');
        return send(res, 200, describePool(name, scope, scope.pool === target.pool));
      }
      if (parts[3] === 'backends') return this.#backends(req, res, method, path, parts.slice(4), name, scope);
      throw new ApiError(404, 'not_found', `no such endpoint: ${path}`);
    }
    if (resource === 'routes' && parts.length === 2) {
      if (method !== 'GET') throw notAllowed(method, path, 'GET');
      const { routes, table, policies } = target.routes();
      if (policies === undefined) return send(res, 200, { routes: routes.map(describeRoute), table: table ?? null });
      // Each route with the policies in effect for it (its filters over the global settings), secrets redacted.
      return send(res, 200, {
        routes: routes.map((r) => ({ ...describeRoute(r), policies: effectivePolicies(r, policies) })), table: table ?? null, unmatched: defaultPolicies(policies),
      });
    }
    if (resource === 'canaries' && parts.length === 2) {
      if (method !== 'GET') throw notAllowed(method, path, 'GET');
      const main = this.#mainName();
      return send(res, 200, { canaries: [...this.#canaries].flatMap(([name, c]) => c.list().map((entry) => (name === main ? entry : { ...entry, pool: name }))) });
    }
    if (resource === 'stream' && parts.length === 2) {
      if (method !== 'GET') throw notAllowed(method, path, 'GET');
      this.#stream(req, res);
      return;
    }
    if (resource === 'config' && parts.length === 2) {
      if (method !== 'GET') throw notAllowed(method, path, 'GET');
      return send(res, 200, target.describeConfig());
    }
    if (resource === 'reload' && parts.length === 2) {
      if (method !== 'POST') throw notAllowed(method, path, 'POST');
      const outcome = await target.reload();
      if (!outcome.ok) throw new ApiError(400, 'invalid_config', outcome.error ?? 'the configuration is not valid');
      return send(res, 200, outcome);
    }
    if (resource === 'events' && parts.length === 2) {
      if (method !== 'GET') throw notAllowed(method, path, 'GET');
      const limitText = url.searchParams.get('limit');
      const limit = limitText === null ? 100 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1) throw invalid('limit', limitText, 'a whole number of events, 1 or more');
      return send(res, 200, { events: target.events.recent(limit) });
    }
    throw new ApiError(404, 'not_found', `no such endpoint: ${path}`);
  }

  /**
   * `/api/backends/...` on the default pool, `/api/pools/NAME/backends/...` on NAME: `rest` is
   * what follows `backends`. Every change is told to that pool's `changed()`.
   */
  async #backends(req: IncomingMessage, res: ServerResponse, method: string, path: string, rest: readonly string[], name: string, scope: AdminPool): Promise<void> {
    const pool = scope.pool;
    const changed = (): void => scope.changed();
    if (rest.length === 0) {
      if (method === 'GET') {
        const connections = (await this.#target.counts()).process.backendConnections ?? {};
        return send(res, 200, { backends: pool.backends.map((b) => ({ ...describe(b), connections: connectionsOf(connections[backendKey(name, b.id)]) })) });
      }
      if (method !== 'POST') throw notAllowed(method, path, 'GET, POST');
      const body = await readJson(req);
      const input = object(body, ['url', 'weight', 'id', 'proto', 'canary']);
      const canary = input.canary === undefined ? undefined : canarySpec(input.canary);
      if (typeof input.url !== 'string') throw invalid('url', input.url, 'a backend URL such as "http://10.0.0.1:8080"');
      if (input.weight !== undefined) checkWeight(input.weight);
      if (input.id !== undefined && typeof input.id !== 'string') throw invalid('id', input.id, 'a string');
      if (input.proto !== undefined && typeof input.proto !== 'string') throw invalid('proto', input.proto, 'one of auto, http1, h2, h2c');
      let backend: Backend;
      try {
        backend = pool.add({ url: input.url, weight: input.weight as number | undefined, id: input.id as string | undefined, proto: input.proto as string | undefined });
      } catch (err) {
        throw asApiError(err, err instanceof InvalidBackend && err.part !== undefined && err.part === input.id ? 'id' : 'url');
      }
      this.#log.info({ pool: name, backend: backend.id, url: backend.url, weight: backend.weight }, 'admin: backend added');
      if (canary !== undefined) await this.#canariesOf(name, scope).start(backend, canary, { kind: 'remove' });
      await this.#done(changed);
      return send(res, 201, this.#withWarnings(describe(backend), input.weight !== undefined, scope));
    }
    if (rest.length > 2 || (rest.length === 2 && rest[1] !== 'drain')) throw new ApiError(404, 'not_found', `no such endpoint: ${path}`);
    const id = decodeURIComponent(rest[0]!);
    const backend = pool.get(id);
    if (backend === undefined) throw new ApiError(404, 'not_found', `no backend with id ${JSON.stringify(id)}${name === this.#mainName() ? '' : ` in pool ${JSON.stringify(name)}`}`);
    if (rest.length === 2) {
      if (method !== 'POST') throw notAllowed(method, path, 'POST');
      void pool.drain(id).then(changed, () => undefined);
      this.#log.info({ pool: name, backend: id }, 'admin: backend draining');
      await this.#done(changed);
      return send(res, 202, describe(backend));
    }
    if (method === 'GET') return send(res, 200, describe(backend));
    if (method === 'PATCH') {
      const input = object(await readJson(req), ['weight', 'state', 'canary']);
      if (input.weight === undefined && input.state === undefined) throw invalid('body', input, 'at least one of "weight" and "state"');
      const canary = input.canary === undefined ? undefined : canarySpec(input.canary);
      if (canary !== undefined && input.weight === undefined) throw invalid('canary', input.canary, 'a canary with a new "weight" (the change it guards)');
      if (input.weight !== undefined) checkWeight(input.weight);
      const previous = backend.weight;
      const state = input.state;
      if (state !== undefined && state !== 'up' && state !== 'maintenance' && state !== 'enabled') {
        throw invalid('state', state, '"maintenance" or "up"');
      }
      try {
        if (input.weight !== undefined) pool.setWeight(id, input.weight as number);
      } catch (err) {
        throw asApiError(err, 'weight');
      }
      if (state !== undefined) pool.setState(id, state === 'maintenance' ? 'maintenance' : 'enabled');
      this.#log.info({ pool: name, backend: id, weight: input.weight, state }, 'admin: backend changed');
      if (canary !== undefined) await this.#canariesOf(name, scope).start(backend, canary, { kind: 'weight', weight: previous });
      await this.#done(changed);
      return send(res, 200, this.#withWarnings(describe(backend), input.weight !== undefined, scope));
    }
    if (method === 'DELETE') {
      void pool.remove(id).then(changed, () => undefined);
      this.#log.info({ pool: name, backend: id }, 'admin: backend removing');
      await this.#done(changed);
      return send(res, 202, describe(backend));
    }
    throw notAllowed(method, path, 'GET, PATCH, DELETE');
  }

  /** The name of the default pool (`pool`): 'default', or the first pool's when there is none. */
  #mainName(): string {
    for (const [name, p] of this.#target.pools()) if (p.pool === this.#target.pool) return name;
    return 'default';
  }

  /** The pool named `name`; 404 when there is none. */
  #scope(name: string): AdminPool {
    const scope = this.#target.pools().get(name);
    if (scope === undefined) {
      throw new ApiError(404, 'no_such_pool', `no pool named ${JSON.stringify(name)}: expected one of ${[...this.#target.pools().keys()].join(', ')}`);
    }
    return scope;
  }

  /** The counts with `name`'s rows summed by backend id (every route's together), as the sampler and canaries read them. */
  #countsOf(name: string): () => Promise<Counts> {
    return async () => {
      const counts = await this.#target.counts();
      return { ...counts, rows: [...foldRows(counts.rows, name)] };
    };
  }

  /** A pool's canaries, made on its first one. */
  #canariesOf(name: string, scope: AdminPool): Canaries {
    let canaries = this.#canaries.get(name);
    if (canaries === undefined) {
      const log = this.#log.child({ component: 'canary', ...(name === this.#mainName() ? {} : { pool: name }) });
      canaries = new Canaries(scope.pool, this.#countsOf(name), this.#target.events, log, () => scope.changed());
      this.#canaries.set(name, canaries);
    }
    return canaries;
  }

  /**
   * Server-sent events for the dashboard: a `snapshot` first (the kept samples and events), then
   * a `sample` each second and each `event` as it happens, until the client goes.
   */
  #stream(req: IncomingMessage, res: ServerResponse): void {
    const target = this.#target;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    res.socket?.setNoDelay(true);
    const send = (event: string, data: unknown): void => { res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`); };
    const main = target.pool;
    send('snapshot', {
      info: target.info(), samples: this.#sampler.history(), events: target.events.recent(),
      // For the dashboard's pools and routes section.
      pools: [...target.pools()].map(([name, p]) => describePool(name, p, p.pool === main)),
      routes: target.routes().routes.map(describeRoute),
    });
    const offSample = this.#sampler.subscribe((sample) => send('sample', sample));
    const offEvent = target.events.subscribe((event) => send('event', event));
    this.#streams.add(res);
    res.on('close', () => {
      offSample();
      offEvent();
      this.#streams.delete(res);
    });
    req.resume();
  }

  /** A backend's answer, with `warnings` when a weight was given that the pool's strategy ignores. */
  #withWarnings(body: object, weightGiven: boolean, scope: AdminPool): object {
    const ignored = weightGiven ? weightsIgnored(scope.strategy()) : undefined;
    return ignored === undefined ? body : { ...body, warnings: [ignored] };
  }

  /** After a change: persist it, and answer only once every process has applied it. */
  async #done(changed: () => void): Promise<void> {
    changed();
    await this.#target.settled();
  }
}

/** A backend as the API shows it. */
export function describe(b: Backend): object {
  return {
    id: b.id,
    url: b.url,
    weight: b.weight,
    proto: b.proto,
    // For an auto backend, what ALPN chose (h2 or http1) once a request has asked; absent before.
    negotiated: b.negotiated,
    state: b.state,
    healthy: b.healthy,
    ejected: b.ejected,
    inFlight: Math.max(0, b.inFlight),
    requests: b.requests,
    errors: b.errors,
    latencyMs: Math.round(b.latency * 1000) / 1000,
    healthReason: b.healthReason,
    warning: b.warning,
  };
}

/** A backend's connections as the API shows them. */
function connectionsOf(counts: [number, number] | undefined): { busy: number; idle: number } {
  return { busy: counts?.[0] ?? 0, idle: counts?.[1] ?? 0 };
}
