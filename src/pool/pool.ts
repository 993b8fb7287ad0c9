import { EventEmitter } from 'node:events';
import { Backend, poolWrites, type AdminState, type BackendTls } from './backend.js';
import { checkUnique, InvalidBackend, parseBackendEntry, parseWeight, type BackendInput, type BackendProto, type BackendSpec } from './backend-spec.js';

/** The pool alone writes a backend's admin state, health verdict, ejection and weights. */
const write = poolWrites();

/** A frozen array of the backends that may take traffic. Replaced, never mutated. */
export type Snapshot = readonly Backend[];

export interface HealthChange {
  readonly backend: Backend;
  readonly healthy: boolean;
  readonly reason: string | undefined;
}

/** What changed about a backend, besides its health. */
export type ChangeKind = 'added' | 'removed' | 'weight' | 'admin' | 'ejected' | 'returned' | 'warning' | 'canary';

export interface PoolChange {
  readonly kind: ChangeKind;
  readonly backend: Backend;
  /** Why, when the one who changed it said (an ejection's failures, a return's cause). */
  readonly reason?: string;
}

export interface PoolEvents {
  /** A backend flipped between healthy and unhealthy (its first verdict counts as a flip). */
  health: [HealthChange];
  /** A backend was added, removed, re-weighted, drained, put in or out of maintenance, ejected or returned. */
  change: [PoolChange];
}

/**
 * The one availability rule, static half: whether a backend belongs in the snapshot. It must
 * be enabled by its operator (not draining, not in maintenance), healthy by the active checks
 * and not ejected by the passive ones.
 */
export function routable(backend: Backend): boolean {
  return backend.admin === 'enabled' && backend.healthy && !backend.ejected;
}

/** The rule's dynamic half, checked at each pick: the backend is not full. */
export function hasRoom(backend: Backend): boolean {
  return backend.maxRequests === 0 || backend.inFlight < backend.maxRequests;
}

/** The whole availability rule: routable and not full. The director and the proxy use only this. */
export function available(backend: Backend): boolean {
  return routable(backend) && hasRoom(backend);
}

/**
 * Owns the backends, keyed by id, and publishes the snapshot of those that may take traffic. A
 * change builds a new frozen array and swaps one reference, so a reader (the director, a
 * strategy) never locks, copies or allocates, and a strategy that precomputes rebuilds when it
 * sees a new array. Backends can be added, removed, drained, put in maintenance and re-weighted
 * at any time; removing one never cuts its requests in flight.
 */
export class Pool extends EventEmitter<PoolEvents> {
  readonly #byId = new Map<string, Backend>();
  readonly #maxRequests: number;
  readonly #proto: BackendProto;
  readonly #tls: BackendTls | undefined;
  readonly #proxyProtocol: 'off' | 'v1' | 'v2';
  #all: readonly Backend[] = Object.freeze([]);
  #available: Snapshot = Object.freeze([]);

  /**
   * Backends from validated specs (the configuration's) or inputs to parse; `maxRequests` is
   * each backend's limit of requests in flight (BACKEND_MAX_REQUESTS; 0 is none).
   */
  constructor(backends: readonly (BackendSpec | BackendInput)[] = [], options: { readonly maxRequests?: number; readonly proto?: BackendProto; readonly tls?: BackendTls; readonly proxyProtocol?: 'off' | 'v1' | 'v2' } = {}) {
    super();
    this.#maxRequests = options.maxRequests ?? 0;
    this.#proto = options.proto ?? 'auto';
    this.#tls = options.tls;
    this.#proxyProtocol = options.proxyProtocol ?? 'off';
    const specs = backends.map(toSpec);
    checkUnique(specs);
    for (const spec of specs) this.#byId.set(spec.id, this.#create(spec));
    this.#publish();
  }

  /** Every backend, available or not, in the order they were added. */
  get backends(): readonly Backend[] {
    return this.#all;
  }

  /** The current snapshot: the backends that may take traffic, in the order they were added. */
  get available(): Snapshot {
    return this.#available;
  }

  get(id: string): Backend | undefined {
    return this.#byId.get(id);
  }

  /**
   * Adds a backend (`http://host:port|weight=2|id=NAME` or `{ url, weight, id }`), validated like
   * the configuration's. It takes traffic once a health check has passed. Throws InvalidBackend.
   */
  add(input: BackendSpec | BackendInput): Backend {
    const spec = toSpec(input);
    checkUnique([...this.#all, spec]);
    const backend = this.#create(spec);
    this.#byId.set(spec.id, backend);
    this.#publish();
    this.emit('change', { kind: 'added', backend });
    return backend;
  }

  /**
   * Stops sending new requests to a backend, waits for those in flight to finish, then removes
   * it (its connections are closed then). Resolves once it is gone.
   */
  async remove(id: string): Promise<void> {
    const backend = this.#require(id);
    this.#setAdmin(backend, 'draining');
    await backend.whenIdle();
    if (this.#byId.get(id) !== backend) return;
    this.#byId.delete(id);
    this.#publish();
    this.emit('change', { kind: 'removed', backend });
  }

  /**
   * No new requests; those in flight finish. Resolves when it is idle, and the backend is then
   * in maintenance (unless its state was changed meanwhile).
   */
  async drain(id: string): Promise<void> {
    const backend = this.#require(id);
    this.#setAdmin(backend, 'draining');
    await backend.whenIdle();
    if (backend.admin === 'draining' && this.#byId.get(id) === backend) this.#setAdmin(backend, 'maintenance');
  }

  /**
   * `maintenance`: no new requests at once (those in flight finish); `enabled`: back in
   * rotation; `draining`: no new requests, without `drain()`'s move to maintenance once idle.
   */
  setState(id: string, state: AdminState): void {
    if (state !== 'enabled' && state !== 'maintenance' && state !== 'draining') {
      throw new InvalidBackend('a state of enabled, maintenance or draining', state);
    }
    this.#setAdmin(this.#require(id), state);
  }

  /**
   * A passing health check warned (`warning`), or stopped warning (undefined): while it warns, the
   * backend takes `factor` of its share of traffic, whatever the strategy (the director's
   * admission, as for slow start).
   */
  setWarning(backend: Backend, warning: string | undefined, factor: number): void {
    if (backend.warning === warning && backend.healthFactor === (warning === undefined ? 1 : factor)) return;
    const flipped = (backend.warning === undefined) !== (warning === undefined);
    write.warning(backend, warning, factor);
    if (flipped) this.emit('change', { kind: 'warning', backend });
  }

  /** A canary's current share of the backend's traffic (1: none, or the canary is over). */
  setCanary(backend: Backend, factor: number): void {
    if (backend.canaryFactor === factor) return;
    write.canary(backend, factor);
    this.emit('change', { kind: 'canary', backend });
  }

  setWeight(id: string, weight: number): void {
    const backend = this.#require(id);
    const value = parseWeight(weight);
    if (backend.weight === value) return;
    write.weight(backend, value);
    this.#publish();
    this.emit('change', { kind: 'weight', backend });
  }

  /**
   * Records a health verdict. Returns true only when the backend flipped (the first verdict
   * counts as one); only a flip rebuilds the snapshot and emits `health`.
   */
  setHealth(backend: Backend, healthy: boolean, reason?: string): boolean {
    const flipped = backend.healthy !== healthy || !backend.checked;
    write.health(backend, healthy, reason);
    if (!flipped) return false;
    if (this.#byId.get(backend.id) === backend) this.#publish();
    this.emit('health', { backend, healthy, reason });
    return true;
  }

  /**
   * Takes a backend out of rotation for passive health (or returns it); true on a change. The
   * `reason` travels with the change event, so the timeline says why, not only that.
   */
  setEjected(backend: Backend, ejected: boolean, reason?: string): boolean {
    if (backend.ejected === ejected) return false;
    write.ejected(backend, ejected);
    if (this.#byId.get(backend.id) === backend) this.#publish();
    this.emit('change', { kind: ejected ? 'ejected' : 'returned', backend, reason });
    return true;
  }

  #create(spec: BackendSpec): Backend {
    return new Backend(spec, this.#maxRequests, this.#proto, this.#tls, this.#proxyProtocol);
  }

  #setAdmin(backend: Backend, admin: AdminState): void {
    if (backend.admin === admin) return;
    write.admin(backend, admin);
    this.#publish();
    this.emit('change', { kind: 'admin', backend });
  }

  #require(id: string): Backend {
    const backend = this.#byId.get(id);
    if (backend === undefined) throw new InvalidBackend(`the id of a backend in the pool (${[...this.#byId.keys()].join(', ')})`, id);
    return backend;
  }

  #publish(): void {
    this.#all = Object.freeze([...this.#byId.values()]);
    this.#available = Object.freeze(this.#all.filter(routable));
  }
}

/** Every backend goes through the one parser, a configured (already valid) spec included. */
function toSpec(input: BackendSpec | BackendInput): BackendSpec {
  return parseBackendEntry(typeof input === 'string' ? input : { url: input.url, weight: input.weight, id: input.id, proto: input.proto });
}
