import cluster from 'node:cluster';
import type { Config } from '../config/index.js';
import type { LbEvent } from '../admin/index.js';
import type { ExemplarImage, ProcessCounts } from '../metrics/index.js';
import type { AdminState, Backend } from '../pool/index.js';
import type { TlsUpdate } from '../tls/acme/index.js';

/** What a worker needs to mirror one backend of the primary's pool. */
export interface BackendImage {
  readonly id: string;
  readonly url: string;
  readonly weight: number;
  readonly admin: AdminState;
  readonly checked: boolean;
  readonly healthy: boolean;
  readonly reason: string | undefined;
  readonly warning: string | undefined;
  readonly healthFactor: number;
  readonly canaryFactor: number;
}

/** One pool's backends, as a worker gets them whole. */
export interface PoolImage {
  readonly pool: string;
  readonly backends: BackendImage[];
}

/** One pool's counters in a worker: per backend, id, requests since the worker started, requests in flight. */
export interface PoolStats {
  readonly pool: string;
  readonly backends: [string, number, number][];
}

/** A change to the pool, keyed by backend id; `seq` is acknowledged by each worker once applied. */
export type Change =
  | { op: 'add'; backend: BackendImage }
  | { op: 'remove'; id: string }
  | { op: 'weight'; id: string; weight: number }
  | { op: 'admin'; id: string; admin: AdminState }
  | { op: 'warning'; id: string; warning: string | undefined; factor: number }
  | { op: 'canary'; id: string; factor: number };

/**
 * Messages between the primary and its workers (node:cluster IPC). Each about backends names its
 * pool (`pool`, as the configuration names it: `default` for BACKENDS'); a worker knows the pools
 * of the configuration it was started with or last given (`config`), and the primary sends a
 * pool's messages only after the configuration that has it.
 */
export type ToWorker =
  /** Pools' whole backends: every pool when the worker says hello (it listens once it has them), a new one after a reload. */
  | { type: 'pools'; pools: PoolImage[] }
  | { type: 'health'; pool: string; id: string; healthy: boolean; reason: string | undefined }
  | ({ type: 'change'; pool: string; seq: number } & Change)
  /** Send your counters now, with this seq (and your default metrics, for a scrape). */
  | { type: 'report'; seq: number; metrics?: boolean }
  /** A reloaded configuration: apply what can change live, pools added and removed included (their backends come as changes and images). */
  | { type: 'config'; config: Config }
  /** The primary's decision on a worker's `rate` question, by the same seq. */
  | { type: 'rate'; seq: number; left: number; reset: number }
  /** TLS material (ACME certificates and challenges, the session ticket key): whole at hello, then each change; a challenge's `seq` is acknowledged once it is answered. */
  | { type: 'tls'; seq?: number; update: TlsUpdate }
  | { type: 'shutdown' };
export type ToPrimary =
  | { type: 'hello' }
  | { type: 'listening'; port: number }
  | { type: 'failed'; code: string | undefined; message: string }
  | { type: 'ack'; seq: number }
  /** The worker's outlier detection ejected a backend, or let it return (ejection is per worker). */
  | { type: 'outlier'; pool: string; id: string; ejected: boolean }
  /** May a request of `key` under rate limit `limit` (see `limitId`) go? The primary keeps every limit's table. */
  | { type: 'rate'; seq: number; limit: string; key: string }
  /** A request the worker answered 5xx, for the primary's timeline of errors (see recordErrors). */
  | { type: 'event'; event: LbEvent }
  /**
   * Per pool, per backend: id, requests since the worker started, requests in flight; the request
   * tally and process counts; the default metrics when asked for; `seq` when asked for.
   */
  | { type: 'stats'; pools: PoolStats[]; tally: [string, number[]][]; process: ProcessCounts; metrics?: unknown[]; seq?: number; exemplars?: ExemplarImage };

export const CONFIG_ENV = 'LB_WORKER_CONFIG';
export const INDEX_ENV = 'LB_WORKER_INDEX';
export const STATS_INTERVAL_MS = 1000;

/** True in a worker process started by a ClusterPrimary. */
export function isWorker(): boolean {
  return cluster.isWorker && process.env[CONFIG_ENV] !== undefined;
}

/** What a worker needs to know of one of the primary's backends. */
export function image(backend: Backend): BackendImage {
  return { id: backend.id, url: backend.url, weight: backend.weight, admin: backend.admin, checked: backend.checked, healthy: backend.healthy, reason: backend.healthReason, warning: backend.warning, healthFactor: backend.healthFactor, canaryFactor: backend.canaryFactor };
}
