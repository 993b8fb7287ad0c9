import type { SecureContext } from 'node:tls';
import { InvalidBackend, resolveProto, type BackendProto, type BackendSpec } from './backend-spec.js';
import { transition, type HealthState } from './hysteresis.js';

/** How connections to https:// backends are verified; shared by the proxy, tunnels and health checks. */
export interface BackendTls {
  /** Trusted CAs, built once at start-up (a per-connection `ca` list would be parsed on every handshake). */
  readonly secureContext: SecureContext | undefined;
  /** SNI name sent and verified; by default the backend URL's host. */
  readonly servername: string | undefined;
  readonly rejectUnauthorized: boolean;
}

/** The TLS options for `tls.connect` (via undici or node:https) that a BackendTls stands for. */
export function tlsConnectOptions(tls: BackendTls | undefined): { secureContext?: SecureContext; servername?: string; rejectUnauthorized?: boolean } {
  if (tls === undefined) return {};
  return {
    ...(tls.secureContext === undefined ? {} : { secureContext: tls.secureContext }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    rejectUnauthorized: tls.rejectUnauthorized,
  };
}

/** τ of the latency EWMA: 10 s, Finagle's and Linkerd's default. */
export const LATENCY_DECAY_MS = 10_000;

/**
 * The time of the latest latency sample of any backend: a clock that strategies can read
 * without calling `performance.now()` (which allocates in Node 20) on every pick.
 */
export const latencyClock = new Float64Array(1);

/** What an operator set: take traffic, finish what is in flight and stop, or take nothing. */
export type AdminState = 'enabled' | 'draining' | 'maintenance';

/** A backend's state as reported: the admin state first, then health and ejection. */
export type BackendState = 'up' | 'down' | 'draining' | 'maintenance' | 'ejected';

/**
 * The pool's writes to a backend: what decides whether it is in the snapshot or how much it
 * takes, so each is followed by a new snapshot or a change event. Only `pool.ts` imports this
 * (the package's index does not export it); everyone else goes through the Pool.
 */
export interface PoolWrites {
  admin(backend: Backend, admin: AdminState): void;
  /** A health verdict: up or down, why, and that it has one now. */
  health(backend: Backend, healthy: boolean, reason: string | undefined): void;
  ejected(backend: Backend, ejected: boolean): void;
  weight(backend: Backend, weight: number): void;
  /** What a passing check warned of, and the share of traffic the backend takes meanwhile. */
  warning(backend: Backend, warning: string | undefined, factor: number): void;
  canary(backend: Backend, factor: number): void;
}

// Assigned by Backend's static block, which alone can reach its #private fields.
let writes: PoolWrites | undefined;

/** The pool's writer of backend state (see PoolWrites). */
export function poolWrites(): PoolWrites {
  return writes!;
}

/**
 * One upstream server and its live state, known by its `id` everywhere. Its identity is fixed;
 * each kind of state has one writer, and everyone else reads it:
 *
 * - admin state, health verdict, ejection and weights: the Pool (which publishes a new snapshot);
 * - the protocol ALPN chose for an `auto` backend: the transport (`negotiate`);
 * - load (in flight, requests, latency): the proxy's attempt accounting (`startRequest`,
 *   `endRequest`, `observeLatency`), or a cluster primary summing its workers (`setInFlight`,
 *   `setRequests`);
 * - passive health counts: outlier detection (`countFailure`, `resetFailures`, `countEjection`);
 * - active check counts and the rise/fall hysteresis: the health monitor (`recordCheck`);
 * - slow start's ramp: SlowStart (`setSlowStart`);
 * - the metrics row: the Tally (`bindMetricsRow`, once).
 */
export class Backend {
  readonly id: string;
  /** The base URL: origin plus optional path prefix, e.g. `http://10.0.0.1:8080/api`. */
  readonly url: string;
  /** `http://host:port`: what the upstream connections connect to. */
  readonly origin: string;
  /** Prepended to each request path; empty when the URL has no path. */
  readonly pathPrefix: string;
  /** Most requests in flight at once; 0 is no limit. */
  readonly maxRequests: number;
  /**
   * The protocol it is spoken to with, resolved: `http1`, `h2`, `h2c`, or `auto` (an https://
   * backend whose ALPN decides). An http:// backend's `auto` is `http1`.
   */
  readonly proto: BackendProto;
  /** How it is spoken to over TLS (its pool's `tls:`, or the BACKEND_* settings); undefined: the transport's own. */
  readonly tls: BackendTls | undefined;
  /** The PROXY protocol header its pool sends on each new connection to it (`proxyProtocol:`): off, v1 or v2. */
  readonly proxyProtocol: 'off' | 'v1' | 'v2';

  #negotiated: 'h2' | 'http1' | undefined = undefined;
  #weight: number;
  #effectiveWeight: number;
  #weightFactor = 1;
  #slowStartFactor = 1;
  #healthFactor = 1;
  #canaryFactor = 1;
  #warning: string | undefined = undefined;
  #admin: AdminState = 'enabled';

  #healthy = false;
  #checked = false;
  #healthReason: string | undefined = undefined;
  readonly #hysteresis: HealthState = { healthy: undefined, streak: 0 };
  #checksPassed = 0;
  #checksFailed = 0;

  #ejected = false;
  #failures = 0;
  #errors = 0;
  #ejections = 0;

  #inFlight = 0;
  #requests = 0;
  #latency = 0;
  #latencyStamp = 0;
  #idle: (() => void)[] | undefined = undefined;
  #metricsRow: Float64Array | undefined = undefined;

  static {
    writes = {
      admin(b, admin) { b.#admin = admin; },
      health(b, healthy, reason) {
        b.#healthReason = healthy ? undefined : reason;
        b.#healthy = healthy;
        b.#checked = true;
      },
      ejected(b, ejected) { b.#ejected = ejected; },
      weight(b, weight) {
        b.#weight = weight;
        b.#effectiveWeight = weight;
      },
      warning(b, warning, factor) {
        b.#warning = warning;
        b.#healthFactor = warning === undefined ? 1 : factor;
        b.#updateWeightFactor();
      },
      canary(b, factor) {
        b.#canaryFactor = factor;
        b.#updateWeightFactor();
      },
    };
  }

  /**
   * `maxRequests` is the pool's limit of requests in flight (0: none); `proto` the pool's
   * protocol, for a spec that names none. Throws InvalidBackend when the two disagree with the URL.
   */
  constructor(spec: BackendSpec, maxRequests = 0, proto: BackendProto = 'auto', tls?: BackendTls, proxyProtocol: 'off' | 'v1' | 'v2' = 'off') {
    this.id = spec.id;
    this.tls = tls;
    this.proto = resolveProto(spec, proto);
    // The loader refuses the configured ones; this refuses one added at runtime (the admin API).
    if (proxyProtocol !== 'off' && this.proto !== 'http1') {
      throw new InvalidBackend('an HTTP/1.1 backend (proto http1): its pool sends the PROXY protocol, which tells one client per connection, and an HTTP/2 one carries many', spec.url);
    }
    this.proxyProtocol = proxyProtocol;
    this.url = spec.url;
    this.origin = spec.origin;
    this.pathPrefix = spec.pathPrefix;
    this.maxRequests = maxRequests;
    this.#weight = spec.weight;
    this.#effectiveWeight = spec.weight;
  }

  /**
   * For an `auto` backend: what ALPN chose on a connection to it (`h2` or `http1`), once one has
   * asked; undefined until then, and again after a connection to it failed. Written by the
   * transport alone (`negotiate`).
   */
  get negotiated(): 'h2' | 'http1' | undefined { return this.#negotiated; }

  /** The transport learned (or, undefined, forgot) what the backend speaks. */
  negotiate(proto: 'h2' | 'http1' | undefined): void {
    this.#negotiated = proto;
  }

  /** The configured weight (set through `Pool.setWeight`). */
  get weight(): number { return this.#weight; }
  /** What weighted strategies balance by. */
  get effectiveWeight(): number { return this.#effectiveWeight; }
  /**
   * The share of its traffic a backend warming up (slow start) takes, from 0 to 1; 1 otherwise.
   * The director admits a pick of it with this probability, whatever the strategy.
   */
  get weightFactor(): number { return this.#weightFactor; }
  /** Slow start's part of `weightFactor`. */
  get slowStartFactor(): number { return this.#slowStartFactor; }
  /** The health checks' part of `weightFactor`: HEALTH_WARN_WEIGHT while the backend warns, else 1. */
  get healthFactor(): number { return this.#healthFactor; }
  /** A canary's part of `weightFactor` (the admin API's guarded changes): its share ramping up; 1 otherwise. */
  get canaryFactor(): number { return this.#canaryFactor; }
  /** What the backend's last passing check warned of (`application/health+json` status `warn`). */
  get warning(): string | undefined { return this.#warning; }
  get admin(): AdminState { return this.#admin; }

  /** Set by the pool on a health flip; read through the pool's snapshot, not directly, on the hot path. */
  get healthy(): boolean { return this.#healthy; }
  /** False until the first health verdict. */
  get checked(): boolean { return this.#checked; }
  /** Why the last health check failed, or undefined while healthy. */
  get healthReason(): string | undefined { return this.#healthReason; }
  /** The active checks' rise/fall state; it lives here so that it follows the backend, not a position. */
  get hysteresis(): Readonly<HealthState> { return this.#hysteresis; }
  /** Active health checks since start-up that passed. */
  get checksPassed(): number { return this.#checksPassed; }
  /** Active health checks since start-up that failed. */
  get checksFailed(): number { return this.#checksFailed; }

  /** Taken out of rotation by passive health checks (outlier detection) until it is returned. */
  get ejected(): boolean { return this.#ejected; }
  /** Gateway failures in a row (cannot connect, reset, timeout, 502/503/504); a good response resets it. */
  get failures(): number { return this.#failures; }
  /** Gateway failures since start-up. */
  get errors(): number { return this.#errors; }
  /** Times it has been ejected. */
  get ejections(): number { return this.#ejections; }

  /** Requests currently being proxied to this backend, open tunnels included. */
  get inFlight(): number { return this.#inFlight; }
  /** Requests proxied to this backend since start-up. */
  get requests(): number { return this.#requests; }
  /** Peak-EWMA of time to response headers, in ms (0 until the first response). */
  get latency(): number { return this.#latency; }
  /** Its row of request counters for the metrics, bound by the Tally on its first ended request. */
  get metricsRow(): Float64Array | undefined { return this.#metricsRow; }

  /** As reported to people and the admin API. */
  get state(): BackendState {
    if (this.#admin !== 'enabled') return this.#admin;
    if (!this.#healthy) return 'down';
    return this.#ejected ? 'ejected' : 'up';
  }

  /** Sets slow start's share of traffic (0 to 1). */
  setSlowStart(factor: number): void {
    this.#slowStartFactor = factor;
    this.#updateWeightFactor();
  }

  /**
   * An active health check passed or failed: counts it and moves the rise/fall hysteresis.
   * Returns true only when the verdict flips (the first one counts); the monitor then tells the pool.
   */
  recordCheck(passed: boolean, rise: number, fall: number): boolean {
    if (passed) this.#checksPassed++;
    else this.#checksFailed++;
    return transition(this.#hysteresis, passed, rise, fall);
  }

  /** A gateway failure of a request to this backend (Caddy's `countFail`); returns the run of them so far. */
  countFailure(): number {
    this.#errors++;
    return ++this.#failures;
  }

  /** A good answer, or a fresh start: the run of gateway failures ends. */
  resetFailures(): void {
    this.#failures = 0;
  }

  /** It has been ejected once more (here, or by a cluster worker); returns how many times in all. */
  countEjection(): number {
    return ++this.#ejections;
  }

  /** A request (or tunnel) to this backend begins. */
  startRequest(): void {
    this.#inFlight++;
    this.#requests++;
  }

  /** A request (or tunnel) to this backend has ended. */
  endRequest(): void {
    if (--this.#inFlight === 0 && this.#idle !== undefined) {
      const waiting = this.#idle;
      this.#idle = undefined;
      for (const resolve of waiting) resolve();
    }
  }

  /** The in-flight count from elsewhere (a cluster primary sums its workers'), waking `whenIdle`. */
  setInFlight(n: number): void {
    this.#inFlight = n + 1;
    this.endRequest();
  }

  /** The request count from elsewhere (a cluster primary sums its workers'). */
  setRequests(n: number): void {
    this.#requests = n;
  }

  /** Resolves when nothing is in flight to this backend. */
  whenIdle(): Promise<void> {
    if (this.#inFlight <= 0) return Promise.resolve();
    return new Promise((resolve) => (this.#idle ??= []).push(resolve));
  }

  /**
   * Folds one response time into the peak-EWMA latency (Finagle's PeakEwma): a slower sample
   * replaces the average at once; a faster one is blended in with weight 1 - e^(-Δt/τ).
   */
  observeLatency(ms: number, now: number): void {
    const prev = this.#latency;
    if (ms > prev || prev === 0) {
      this.#latency = ms;
    } else {
      const w = Math.exp(-Math.max(0, now - this.#latencyStamp) / LATENCY_DECAY_MS);
      this.#latency = prev * w + ms * (1 - w);
    }
    this.#latencyStamp = now;
    if (now > latencyClock[0]!) latencyClock[0] = now;
  }

  /** The latency estimate decayed towards zero for the time since the last sample, as Finagle does on read. */
  latencyAt(now: number): number {
    if (this.#latency === 0) return 0;
    return this.#latency * Math.exp(-Math.max(0, now - this.#latencyStamp) / LATENCY_DECAY_MS);
  }

  /**
   * Keeps `row` as this backend's metrics row unless it has one already, and returns the row it
   * keeps: bound once, so counting a request never looks it up again.
   */
  bindMetricsRow(row: Float64Array): Float64Array {
    return (this.#metricsRow ??= row);
  }

  toJSON(): object {
    return { id: this.id, url: this.url, weight: this.weight, state: this.state, healthy: this.healthy, inFlight: this.inFlight, requests: this.requests };
  }

  /** `weightFactor` from its parts: slow start, health warnings, canary. */
  #updateWeightFactor(): void {
    this.#weightFactor = this.#slowStartFactor * this.#healthFactor * this.#canaryFactor;
  }
}
