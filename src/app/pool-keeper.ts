import type { Logger } from 'pino';
import { applyState, captureState, EMPTY_STATE, StateFile, type PoolState } from '../admin/state-file.js';
import type { Config } from '../config/index.js';
import type { Backend, BackendSpec, Pool } from '../pool/index.js';

/**
 * The pool's two sources, kept apart: the configured backends (BACKENDS, the config file) and
 * the runtime changes made through the admin API, which STATE_FILE keeps. The pool starts as the
 * configured backends with the saved changes applied; a reload brings it to the new configured
 * backends with the same changes applied, so an operator's changes survive both.
 */
export class PoolKeeper {
  readonly #file: StateFile | undefined;
  readonly #log: Logger;
  #configured: readonly BackendSpec[];
  #state: PoolState;
  /** Backends a reload is removing: they drain in the pool, but are no runtime change. */
  readonly #leaving = new Set<string>();

  /** Reads STATE_FILE (a corrupt one is a ConfigError). */
  constructor(config: Config, log: Logger) {
    this.#log = log;
    this.#configured = config.backends;
    this.#file = config.stateFile === undefined ? undefined : new StateFile(config.stateFile);
    this.#state = this.#file?.load() ?? EMPTY_STATE;
  }

  /** The backends the pool starts with. */
  get specs(): BackendSpec[] {
    return applyState(this.#configured, this.#state);
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
  reconcile(pool: Pool, configured: readonly BackendSpec[], checkTimeout: number): string[] {
    const desired = applyState(configured, this.#state);
    this.#configured = configured;
    const changes: string[] = [];
    const wanted = new Map(desired.map((s) => [s.id, s]));
    const leaving = pool.backends.filter((b) => wanted.get(b.id)?.url !== b.url);
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
    void firstVerdicts(pool, added, checkTimeout).then(() => {
      for (const backend of leaving) {
        void pool.remove(backend.id).finally(() => {
          this.#leaving.delete(backend.id);
          // A backend whose URL changed comes back under its id once the old one is gone.
          const spec = wanted.get(backend.id);
          if (spec !== undefined && pool.get(spec.id) === undefined) pool.add(spec);
        });
      }
    });
    return changes;
  }
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
