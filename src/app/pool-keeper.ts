import type { Logger } from 'pino';
import { applyState, captureState, EMPTY_STATE, type PoolState, type StatePart } from '../admin/state-file.js';
import type { PoolSettings } from '../config/pools.js';
import { DnsDiscovery, isDnsBackend, type Backend, type BackendEntry, type BackendSpec, type DnsBackend, type Pool } from '../pool/index.js';

/**
 * The pool's two sources, kept apart: the configured backends (BACKENDS, the config file) and
 * the runtime changes made through the admin API, which STATE_FILE keeps. The pool starts as the
 * configured backends with the saved changes applied; a reload brings it to the new configured
 * backends with the same changes applied, so an operator's changes survive both. The configured
 * backends include those that `dns+` entries resolve to: the pool follows DNS the same way.
 */
export class PoolKeeper {
  /** This pool's part of STATE_FILE (shared with the other pools' keepers). */
  readonly #file: StatePart | undefined;
  readonly #log: Logger;
  /** The backends configured by address. */
  #static: readonly BackendSpec[];
  #discovery: DnsDiscovery | undefined;
  #pool: Pool | undefined;
  #checkTimeout: number;
  #state: PoolState;
  /** Backends a reload is removing: they drain in the pool, but are no runtime change. */
  readonly #leaving = new Set<string>();

  /** Reads the pool's part of STATE_FILE (a corrupt file is a ConfigError). */
  constructor(config: PoolSettings, stateFile: StatePart | undefined, log: Logger) {
    this.#log = log;
    this.#static = staticBackends(config.backends);
    this.#checkTimeout = checkTimeout(config);
    const dns = config.backends.filter(isDnsBackend);
    if (dns.length > 0) this.#discovery = this.#discover(dns, config);
    this.#file = stateFile;
    this.#state = this.#file?.load() ?? EMPTY_STATE;
  }

  /** The backends the pool starts with (those from DNS come at `start`). */
  get specs(): BackendSpec[] {
    return applyState(this.#static, this.#state);
  }

  /** The configured backends: by address, then from DNS (an address configured both ways once). */
  get #configured(): BackendSpec[] {
    const discovered = this.#discovery?.specs ?? [];
    if (discovered.length === 0) return [...this.#static];
    const ids = new Set(this.#static.map((s) => s.id));
    return [...this.#static, ...discovered.filter((s) => !ids.has(s.id))];
  }

  /** Looks up the `dns+` entries and brings their backends in, then follows their changes. */
  async start(pool: Pool): Promise<void> {
    this.#pool = pool;
    if (this.#discovery === undefined) return;
    await this.#discovery.start();
    this.#follow();
  }

  stop(): void {
    this.#discovery?.stop();
    this.#pool = undefined;
  }

  #discover(entries: readonly DnsBackend[], config: PoolSettings): DnsDiscovery {
    return new DnsDiscovery(entries, config.dns, () => this.#follow(), this.#log.child({ component: 'dns' }));
  }

  /** DNS answered otherwise: the pool follows, as on a reload. */
  #follow(): void {
    if (this.#pool !== undefined) this.#reconcile(this.#pool);
  }

  /** Puts the backends saved in maintenance back in it (before the pool takes traffic). */
  restore(pool: Pool): void {
    for (const id of this.#state.maintenance) if (pool.get(id) !== undefined) pool.setState(id, 'maintenance');
    if (this.#file !== undefined && this.#state !== EMPTY_STATE) {
      this.#log.info({ stateFile: this.#file.path, ...this.#state }, 'runtime changes to the pool reapplied from STATE_FILE');
    }
  }

  /** After a change through the admin API: records it, and writes STATE_FILE. */
  changed(pool: Pool): void {
    this.#state = captureState(pool, this.#configured, this.#leaving);
    if (this.#file === undefined) return;
    try {
      this.#file.save(this.#state);
    } catch (err) {
      this.#log.error({ stateFile: this.#file.path, err: (err as Error).message }, 'cannot write STATE_FILE: the change is live but will not survive a restart');
    }
  }

  /**
   * Brings the pool to new configured backends, the runtime changes kept: removed backends
   * drain, new ones are health-checked before they get traffic, unchanged ones keep their
   * health, counters and connections. Returns what changed, for the log.
   */
  reconcile(pool: Pool, next: PoolSettings): string[] {
    this.#static = staticBackends(next.backends);
    this.#checkTimeout = checkTimeout(next);
    const dns = next.backends.filter(isDnsBackend);
    if (this.#discovery === undefined && dns.length > 0) {
      this.#discovery = this.#discover(dns, next);
      if (this.#pool !== undefined) void this.#discovery.start().then(() => this.#follow());
    } else {
      this.#discovery?.configure(dns, next.dns);
    }
    return this.#reconcile(pool);
  }

  #reconcile(pool: Pool): string[] {
    const desired = applyState(this.#configured, this.#state);
    const changes: string[] = [];
    const wanted = new Map(desired.map((s) => [s.id, s]));
    const leaving = pool.backends.filter((b) => wanted.get(b.id)?.url !== b.url && !this.#leaving.has(b.id));
    const added: Backend[] = [];
    for (const spec of desired) {
      const backend = pool.get(spec.id);
      if (backend === undefined) {
        added.push(pool.add(spec));
        changes.push(`added ${spec.id}`);
      } else if (backend.url === spec.url && backend.weight !== spec.weight) {
        pool.setWeight(spec.id, spec.weight);
        changes.push(`weight ${spec.id} ${spec.weight}`);
      }
    }
    for (const backend of leaving) {
      this.#leaving.add(backend.id);
      changes.push(`removed ${backend.id}`);
    }
    // The old backends keep serving until the new ones have their first verdict (bounded by the
    // check timeout), so that replacing the whole pool never leaves it empty meanwhile.
    void firstVerdicts(pool, added, this.#checkTimeout).then(() => {
      for (const backend of leaving) {
        if (pool.get(backend.id) !== backend) {
          this.#leaving.delete(backend.id);
          continue;
        }
        void pool.remove(backend.id).finally(() => {
          this.#leaving.delete(backend.id);
          // A backend whose URL changed, or that came back (in DNS) while it drained, is
          // wanted again under its id once the old one is gone.
          const spec = applyState(this.#configured, this.#state).find((s) => s.id === backend.id);
          if (spec !== undefined && pool.get(spec.id) === undefined) pool.add(spec);
        });
      }
    });
    return changes;
  }
}

function staticBackends(entries: readonly BackendEntry[]): BackendSpec[] {
  return entries.filter((e): e is BackendSpec => !isDnsBackend(e));
}

/** How long a reload waits for new backends' first verdict before the old ones leave. */
function checkTimeout(config: PoolSettings): number {
  return config.health.timeout * 2 + 1000;
}

/** Resolves once each backend has had a health verdict, or after `ms`. */
function firstVerdicts(pool: Pool, backends: readonly Backend[], ms: number): Promise<void> {
  const waiting = new Set(backends.filter((b) => !b.checked));
  if (waiting.size === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      pool.off('health', onHealth);
      resolve();
    };
    const onHealth = ({ backend }: { backend: Backend }): void => {
      waiting.delete(backend);
      if (waiting.size === 0) done();
    };
    const timer = setTimeout(done, ms);
    pool.on('health', onHealth);
  });
}
