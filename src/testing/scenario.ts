import { Agent, request } from 'node:http';
import type { Logger } from 'pino';
import pino from 'pino';
import type { LbEvent } from '../admin/index.js';
import { createLoadBalancer, type LoadBalancer, type LoadBalancerSettings, type StrategyInput } from '../index.js';
import { FakeBackend, type Behaviour, type FakeBackendOptions } from './fake-backend.js';

export interface ScenarioOptions {
  /** The fake backends: names, or options with a starting behaviour. Their ids in the pool are their names. */
  readonly backends: readonly (string | FakeBackendOptions)[];
  /**
   * Settings for the balancer, as `createLoadBalancer` takes them (backends, host and port are
   * the scenario's). Health checks default to `/health` every 1 s (200 ms while down).
   */
  readonly settings?: Omit<LoadBalancerSettings, 'backends' | 'host' | 'port'> & StrategyInput;
  /** Where the balancer logs; silent by default. */
  readonly logger?: Logger;
}

export interface LoadOptions {
  /** Requests to send (default 100). */
  readonly requests?: number;
  /** At most this many in flight (default 4). */
  readonly concurrency?: number;
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Called before each request with its index: change behaviours mid-run. */
  readonly before?: (index: number) => void | Promise<void>;
}

export interface LoadResult {
  readonly sent: number;
  /** Responses by status code, as the clients saw them. */
  readonly statuses: Readonly<Record<number, number>>;
  /** Successful responses by the backend that gave them (its name). */
  readonly byBackend: Readonly<Record<string, number>>;
  /** Requests that got no response at all (a reset, a refused connection). */
  readonly failed: number;
  /** Responses with a status of 500 or more, plus `failed`: what clients saw go wrong. */
  readonly errors: number;
}

export interface ScenarioResults {
  /** What each backend received (health checks apart) and answered with an error. */
  readonly backends: Readonly<Record<string, { requests: number; errors: number; ejections: number; state: string }>>;
  /** Requests tried again on another backend. */
  readonly retries: number;
  /** The balancer's events (health flips, ejections, changes), oldest first. */
  readonly events: readonly LbEvent[];
}

/**
 * A balancer in this process in front of fake backends whose behaviour is scripted, for a
 * user's own tests (node:test, vitest, …): start it, drive load, change behaviours mid-run, and
 * assert on what clients saw and what the balancer did. Everything is real: HTTP servers on
 * 127.0.0.1, the balancer's own listener, its health checks, retries and outlier detection.
 */
export class Scenario {
  readonly lb: LoadBalancer;
  readonly url: string;
  readonly #backends: Map<string, FakeBackend>;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });

  private constructor(lb: LoadBalancer, url: string, backends: Map<string, FakeBackend>) {
    this.lb = lb;
    this.url = url;
    this.#backends = backends;
  }

  static async start(options: ScenarioOptions): Promise<Scenario> {
    const backends = new Map<string, FakeBackend>();
    for (const entry of options.backends) {
      const backend = new FakeBackend(typeof entry === 'string' ? { name: entry } : entry);
      if (backends.has(backend.name)) throw new Error(`two fake backends named ${backend.name}`);
      backends.set(backend.name, await backend.start());
    }
    const settings = options.settings ?? {};
    const lb = createLoadBalancer({
      ...settings,
      host: '127.0.0.1',
      port: 0,
      backends: [...backends.values()].map((b) => `${b.url}|id=${b.name}`),
      health: { path: '/health', interval: '1s', downInterval: '200ms', ...(settings.health as object | undefined) },
    }, { logger: options.logger ?? pino({ level: 'silent' }) });
    try {
      const { port } = await lb.start();
      return new Scenario(lb, `http://127.0.0.1:${port}`, backends);
    } catch (err) {
      await Promise.all([...backends.values()].map((b) => b.stop()));
      throw err;
    }
  }

  /** The fake backend of that name. */
  backend(name: string): FakeBackend {
    const backend = this.#backends.get(name);
    if (backend === undefined) throw new Error(`no fake backend named ${name}`);
    return backend;
  }

  /** Shorthand for `backend(name).behave(change)`. */
  behave(name: string, change: Behaviour): void {
    this.backend(name).behave(change);
  }

  /** Sends requests through the balancer and tallies what the clients saw. */
  async load(options: LoadOptions = {}): Promise<LoadResult> {
    const total = options.requests ?? 100;
    const statuses: Record<number, number> = {};
    const byBackend: Record<string, number> = {};
    let failed = 0;
    let next = 0;
    const one = (): Promise<void> => new Promise((resolve) => {
      const req = request(`${this.url}${options.path ?? '/'}`, { method: options.method ?? 'GET', headers: options.headers, agent: this.#agent }, (res) => {
        res.resume();
        res.on('end', () => {
          statuses[res.statusCode!] = (statuses[res.statusCode!] ?? 0) + 1;
          const name = res.headers['x-backend'];
          if (typeof name === 'string' && res.statusCode! < 400) byBackend[name] = (byBackend[name] ?? 0) + 1;
          resolve();
        });
        res.on('error', () => { failed++; resolve(); });
      });
      req.on('error', () => { failed++; resolve(); });
      req.end();
    });
    const worker = async (): Promise<void> => {
      while (next < total) {
        const index = next++;
        await options.before?.(index);
        await one();
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 4, total)) }, worker));
    let errors = failed;
    for (const [status, n] of Object.entries(statuses)) if (Number(status) >= 500) errors += n;
    return { sent: total, statuses, byBackend, failed, errors };
  }

  /**
   * Resolves once `condition()` holds, checked at each change of the pool (health, ejection,
   * admin) and every 50 ms; rejects after `timeoutMs` (default 10 s) with `what` in the message.
   */
  until(condition: () => boolean, what = 'the condition', timeoutMs = 10_000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return;
        done();
        resolve();
      };
      const done = (): void => {
        clearInterval(poll);
        clearTimeout(timer);
        this.lb.pool.off('change', check);
        this.lb.pool.off('health', check);
      };
      const poll = setInterval(check, 50);
      const timer = setTimeout(() => { done(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)); }, timeoutMs);
      this.lb.pool.on('change', check);
      this.lb.pool.on('health', check);
    });
  }

  /** What the backends received and the balancer did so far. */
  async results(): Promise<ScenarioResults> {
    const counts = await this.lb.processCounts();
    const backends: Record<string, { requests: number; errors: number; ejections: number; state: string }> = {};
    for (const [name, fake] of this.#backends) {
      const backend = this.lb.pool.get(name);
      backends[name] = { requests: fake.requests, errors: fake.errors, ejections: backend?.ejections ?? 0, state: backend?.state ?? 'removed' };
    }
    return { backends, retries: counts.retries, events: this.lb.events.recent() };
  }

  /** Stops the balancer (gracefully) and the fake backends. */
  async stop(): Promise<void> {
    await this.lb.stop();
    this.#agent.destroy();
    await Promise.all([...this.#backends.values()].map((b) => b.stop()));
  }
}
