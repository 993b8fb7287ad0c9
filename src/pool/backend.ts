import type { SecureContext } from 'node:tls';
import type { BackendSpec } from './backend-spec.js';

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

/** Hysteresis of the active checks: the current verdict and the streak of results against it. */
export interface HealthState {
  healthy: boolean | undefined;
  streak: number;
}

/**
 * One upstream server and its live state, known by its `id` everywhere. The pool owns its
 * admin state, health and weight (changes go through the pool, which publishes a new
 * snapshot); the proxy keeps the load counters that load-aware strategies read.
 */
export class Backend {
  readonly id: string;
  /** The base URL: origin plus optional path prefix, e.g. `http://10.0.0.1:8080/api`. */
  readonly url: string;
  /** `http://host:port`: what the upstream connections connect to. */
  readonly origin: string;
  /** Prepended to each request path; empty when the URL has no path. */
  readonly pathPrefix: string;
  /** The configured weight (set through `Pool.setWeight`). */
  weight: number;
  /**
   * The share of its traffic a backend warming up (slow start) takes, from 0 to 1; 1 otherwise.
   * The director admits a pick of it with this probability, whatever the strategy.
   */
  weightFactor = 1;
  /** Slow start's part of `weightFactor`. */
  slowStartFactor = 1;
  /** The health checks' part of `weightFactor`: HEALTH_WARN_WEIGHT while the backend warns, else 1. */
  healthFactor = 1;
  /** A canary's part of `weightFactor` (the admin API's guarded changes): its share ramping up; 1 otherwise. */
  canaryFactor = 1;
  /** What the backend's last passing check warned of (`application/health+json` status `warn`). */
  warning: string | undefined = undefined;
  /** What weighted strategies balance by. */
  effectiveWeight: number;
  admin: AdminState = 'enabled';

  /** Set by the pool on a health flip; read through the pool's snapshot, not directly, on the hot path. */
  healthy = false;
  /** False until the first health verdict. */
  checked = false;
  /** Why the last health check failed, or undefined while healthy. */
  healthReason: string | undefined = undefined;
  /** The active checks' rise/fall state; it lives here so that it follows the backend, not a position. */
  readonly hysteresis: HealthState = { healthy: undefined, streak: 0 };
  /** Taken out of rotation by passive health checks (outlier detection) until it is returned. */
  ejected = false;
  /** Gateway failures in a row (cannot connect, reset, timeout, 502/503/504); a good response resets it. */
  failures = 0;
  /** Gateway failures since start-up. */
  errors = 0;
  /** Times it has been ejected. */
  ejections = 0;
  /** Most requests in flight at once; 0 is no limit. */
  maxRequests = 0;

  /** Requests currently being proxied to this backend, open tunnels included. */
  inFlight = 0;
  /** Requests proxied to this backend since start-up. */
  requests = 0;
  /** Peak-EWMA of time to response headers, in ms (0 until the first response). */
  latency = 0;
  /** When `latency` was last updated, in ms on the caller's monotonic clock. */
  latencyStamp = 0;
  /** Its row of request counters for the metrics, set on its first ended request. */
  tally: Float64Array | undefined = undefined;
  /** Active health checks since start-up that passed, and that failed. */
  checksPassed = 0;
  checksFailed = 0;
  #idle: (() => void)[] | undefined = undefined;

  constructor(spec: BackendSpec) {
    this.id = spec.id;
    this.url = spec.url;
    this.origin = spec.origin;
    this.pathPrefix = spec.pathPrefix;
    this.weight = spec.weight;
    this.effectiveWeight = spec.weight;
  }

  /** Sets slow start's share of traffic (0 to 1). */
  setSlowStart(factor: number): void {
    this.slowStartFactor = factor;
    this.updateWeightFactor();
  }

  /** `weightFactor` from its parts: slow start, health warnings, canary. */
  updateWeightFactor(): void {
    this.weightFactor = this.slowStartFactor * this.healthFactor * this.canaryFactor;
  }

  /** As reported to people and the admin API. */
  get state(): BackendState {
    if (this.admin !== 'enabled') return this.admin;
    if (!this.healthy) return 'down';
    return this.ejected ? 'ejected' : 'up';
  }

  /** A request (or tunnel) to this backend begins. */
  startRequest(): void {
    this.inFlight++;
    this.requests++;
  }

  /** A request (or tunnel) to this backend has ended. */
  endRequest(): void {
    if (--this.inFlight === 0 && this.#idle !== undefined) {
      const waiting = this.#idle;
      this.#idle = undefined;
      for (const resolve of waiting) resolve();
    }
  }

  /** The in-flight count from elsewhere (a cluster primary sums its workers'), waking `whenIdle`. */
  setInFlight(n: number): void {
    this.inFlight = n + 1;
    this.endRequest();
  }

  /** Resolves when nothing is in flight to this backend. */
  whenIdle(): Promise<void> {
    if (this.inFlight <= 0) return Promise.resolve();
    return new Promise((resolve) => (this.#idle ??= []).push(resolve));
  }

  /**
   * Folds one response time into the peak-EWMA latency (Finagle's PeakEwma): a slower sample
   * replaces the average at once; a faster one is blended in with weight 1 - e^(-Δt/τ).
   */
  observeLatency(ms: number, now: number): void {
    const prev = this.latency;
    if (ms > prev || prev === 0) {
      this.latency = ms;
    } else {
      const w = Math.exp(-Math.max(0, now - this.latencyStamp) / LATENCY_DECAY_MS);
      this.latency = prev * w + ms * (1 - w);
    }
    this.latencyStamp = now;
    if (now > latencyClock[0]!) latencyClock[0] = now;
  }

  /** The latency estimate decayed towards zero for the time since the last sample, as Finagle does on read. */
  latencyAt(now: number): number {
    if (this.latency === 0) return 0;
    return this.latency * Math.exp(-Math.max(0, now - this.latencyStamp) / LATENCY_DECAY_MS);
  }

  toJSON(): object {
    return { id: this.id, url: this.url, weight: this.weight, state: this.state, healthy: this.healthy, inFlight: this.inFlight, requests: this.requests };
  }
}
