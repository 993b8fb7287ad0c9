import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../config/index.js';
import { DEFAULT_POOL } from '../config/pools.js';
import { checkUnique, parseBackendEntry, type BackendSpec, type Pool } from '../pool/index.js';

/**
 * The pool's runtime changes, as a difference from the configured backends: what an operator
 * did through the admin API, kept so that it survives restarts and reloads.
 */
export interface PoolState {
  /** Backends that are not in the configuration. */
  readonly added: readonly { readonly id: string; readonly url: string; readonly weight: number }[];
  /** Ids of configured backends that were removed. */
  readonly removed: readonly string[];
  /** Weights that differ from the configured ones, by id. */
  readonly weights: Readonly<Record<string, number>>;
  /** Ids of backends put in maintenance (or drained). */
  readonly maintenance: readonly string[];
}

export const EMPTY_STATE: PoolState = Object.freeze({ added: [], removed: [], weights: {}, maintenance: [] });

/** The difference between the live pool and the configured backends. */
export function captureState(pool: Pool, configured: readonly BackendSpec[], leaving: ReadonlySet<string> = new Set()): PoolState {
  const byId = new Map(configured.map((b) => [b.id, b]));
  const added: { id: string; url: string; weight: number }[] = [];
  const weights: Record<string, number> = {};
  const maintenance: string[] = [];
  for (const backend of pool.backends) {
    if (leaving.has(backend.id)) continue;
    const spec = byId.get(backend.id);
    if (spec === undefined || spec.url !== backend.url) added.push({ id: backend.id, url: backend.url, weight: backend.weight });
    else if (spec.weight !== backend.weight) weights[backend.id] = backend.weight;
    if (backend.admin !== 'enabled') maintenance.push(backend.id);
  }
  const removed = configured.filter((b) => (pool.get(b.id)?.url !== b.url || leaving.has(b.id)) && !added.some((a) => a.id === b.id)).map((b) => b.id);
  return { added, removed, weights, maintenance };
}

/** The configured backends with the runtime changes applied: what the pool should hold. */
export function applyState(configured: readonly BackendSpec[], state: PoolState): BackendSpec[] {
  const removed = new Set(state.removed);
  const addedIds = new Set(state.added.map((a) => a.id));
  const specs: BackendSpec[] = [];
  for (const spec of configured) {
    if (removed.has(spec.id) || addedIds.has(spec.id)) continue;
    const weight = state.weights[spec.id];
    specs.push(weight === undefined ? spec : { ...spec, weight });
  }
  for (const a of state.added) specs.push(parseBackendEntry({ url: a.url, weight: a.weight, id: a.id }));
  checkUnique(specs);
  return specs;
}

/** One pool's part of STATE_FILE: what a PoolKeeper reads at start and writes after each change. */
export interface StatePart {
  readonly path: string;
  load(): PoolState;
  save(state: PoolState): void;
}

/**
 * STATE_FILE: every pool's runtime changes, `{ "version": 2, "pools": { "default": …, "api": … } }`,
 * rewritten after each change (a whole new file renamed over the old, so a crash leaves the old
 * or the new, never half of one) and read at start. One object per balancer is shared by every
 * pool's keeper, so that a pool writing its part keeps the others'. A file of the single-pool
 * format (a bare state, `"version": 1`) is read as the default pool's part.
 */
export class StateFile {
  /** Every pool's part as last read or written; read on first use. */
  #pools: Map<string, PoolState> | undefined;

  constructor(readonly path: string) {}

  /** The part of the pool named `pool`, to load and save. */
  part(pool: string): StatePart {
    return { path: this.path, load: () => this.load(pool), save: (state) => this.save(pool, state) };
  }

  /** The pool's saved state; none when the file or the pool's part does not exist. A corrupt file is a ConfigError. */
  load(pool: string): PoolState {
    this.#pools ??= this.#read();
    return this.#pools.get(pool) ?? EMPTY_STATE;
  }

  /** Replaces the pool's part, and writes the file with every other pool's part as it was. */
  save(pool: string, state: PoolState): void {
    const pools = new Map(this.#pools ?? this.#read());
    if (isEmpty(state)) pools.delete(pool); else pools.set(pool, state);
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ version: 2, pools: Object.fromEntries(pools) }, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
    this.#pools = pools;
  }

  #read(): Map<string, PoolState> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw new ConfigError(`invalid STATE_FILE ${JSON.stringify(this.path)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    try {
      return parseStateFile(JSON.parse(text));
    } catch (err) {
      throw new ConfigError(`invalid STATE_FILE ${JSON.stringify(this.path)}: expected the JSON the balancer writes there (${(err as Error).message}); fix or delete the file`);
    }
  }
}

function isEmpty(state: PoolState): boolean {
  return state.added.length === 0 && state.removed.length === 0 && state.maintenance.length === 0 && Object.keys(state.weights).length === 0;
}

/** Each pool's state: `version: 2` holds them by pool name, `version: 1` (one pool) is the default pool's. */
function parseStateFile(data: unknown): Map<string, PoolState> {
  const o = data as { version?: unknown; pools?: unknown };
  if (typeof o !== 'object' || o === null) throw new Error('not an object');
  if (o.version === 1) return new Map([[DEFAULT_POOL, validate(o)]]);
  if (o.version !== 2) throw new Error('no "version": 2');
  if (typeof o.pools !== 'object' || o.pools === null || Array.isArray(o.pools)) throw new Error('"pools" is not an object of pools by name');
  return new Map(Object.entries(o.pools).map(([name, state]) => {
    try {
      return [name, validate(state)];
    } catch (err) {
      throw new Error(`pool ${JSON.stringify(name)}: ${(err as Error).message}`);
    }
  }));
}

function validate(data: unknown): PoolState {
  const o = data as Partial<PoolState>;
  if (typeof o !== 'object' || o === null) throw new Error('not an object');
  const strings = (v: unknown, name: string): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`"${name}" is not a list of ids`);
    return v as string[];
  };
  if (!Array.isArray(o.added)) throw new Error('"added" is not a list');
  const added = o.added.map((a: unknown) => {
    const spec = parseBackendEntry(a);
    return { id: spec.id, url: spec.url, weight: spec.weight };
  });
  const weights = o.weights ?? {};
  if (typeof weights !== 'object' || Object.values(weights).some((w) => typeof w !== 'number' || !(w > 0))) throw new Error('"weights" is not an object of positive numbers');
  return { added, removed: strings(o.removed ?? [], 'removed'), weights, maintenance: strings(o.maintenance ?? [], 'maintenance') };
}
