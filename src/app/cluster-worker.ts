import type { Config } from '../config/index.js';
import type { Pool } from '../pool/index.js';
import { CONFIG_ENV, INDEX_ENV, STATS_INTERVAL_MS, type BackendImage, type Change, type ToPrimary, type ToWorker } from './cluster-protocol.js';
import { LoadBalancer } from './load-balancer.js';
import { workerPlan } from './worker-listen.js';
import { exemplarImage } from '../metrics/index.js';
import type { Authority, Verdict } from '../rate-limit/index.js';

/** What a request waiting for the primary's rate-limit decision gets when the primary is gone. */
const UNDECIDED: Verdict = { left: 0, reset: 0 };
import { createLogging, flushLogger } from './logger.js';
import { handleSignals } from './signals.js';

/** Makes a worker's pool what the primary's is: backends added, removed and updated by id. */
function applyPool(pool: Pool, backends: readonly BackendImage[]): void {
  const wanted = new Set(backends.map((b) => b.id));
  for (const backend of pool.backends) if (!wanted.has(backend.id)) void pool.remove(backend.id);
  for (const b of backends) applyImage(pool, b);
}

/** Adds the backend if it is new, and gives it the primary's weight, state and health. */
function applyImage(pool: Pool, b: BackendImage): void {
  const backend = pool.get(b.id) ?? pool.add({ id: b.id, url: b.url, weight: b.weight });
  pool.setWeight(b.id, b.weight);
  pool.setState(b.id, b.admin);
  if (b.checked) pool.setHealth(backend, b.healthy, b.reason);
  pool.setWarning(backend, b.warning, b.healthFactor);
  pool.setCanary(backend, b.canaryFactor);
}

function applyChange(pool: Pool, change: Change): void {
  switch (change.op) {
    case 'add': applyImage(pool, change.backend); break;
    case 'remove': void pool.remove(change.id); break;
    case 'weight': pool.setWeight(change.id, change.weight); break;
    case 'admin': pool.setState(change.id, change.admin); break;
    case 'canary': {
      const backend = pool.get(change.id);
      if (backend !== undefined) pool.setCanary(backend, change.factor);
      break;
    }
    case 'warning': {
      const backend = pool.get(change.id);
      if (backend !== undefined) pool.setWarning(backend, change.warning, change.factor);
      break;
    }
  }
}

/**
 * A worker: a full LoadBalancer whose pools are the primary's. It waits for them before it
 * listens, applies every change the primary sends to the pool it names (and says so), reports
 * its counters by pool and backend id, and drains on the primary's word (or its own signal, or
 * when the primary is gone).
 */
export async function runWorker(): Promise<LoadBalancer> {
  const config = JSON.parse(process.env[CONFIG_ENV]!) as Config;
  const index = Number(process.env[INDEX_ENV] ?? 0);
  const { log, lines } = createLogging({ ...config.log, bindings: { worker: index } });
  // Rate limits are decided by the primary, which keeps their tables for the whole group.
  let seq = 0;
  const asked = new Map<number, (v: Verdict) => void>();
  const rateAuthority: Authority = (limit, key) => new Promise<Verdict>((resolve) => {
    if (!process.connected) { resolve(UNDECIDED); return; }
    asked.set(++seq, resolve);
    process.send!({ type: 'rate', seq, limit, key } satisfies ToPrimary);
  });
  // WORKER_LISTEN=reuseport: this worker binds its own sockets on the primary's ports, and the kernel hands it connections.
  const lb = new LoadBalancer(config, { logger: log, accessLines: lines, strategyOffset: index, externalHealth: true, rateAuthority, tlsFromPrimary: true, listen: workerPlan() });
  const stop = handleSignals(lb);
  // The timeline of errors is the primary's: each error this worker records goes there.
  lb.events.subscribe((event) => {
    if (event.kind === 'error' && process.connected) process.send!({ type: 'event', event } satisfies ToPrimary);
  });
  const report = async (seq?: number, metrics = false): Promise<void> => {
    const counts = await lb.processCounts();
    const defaults = metrics ? await lb.metrics.defaultsJson() : undefined;
    if (!process.connected) return;
    process.send!({
      type: 'stats', pools: [...lb.pools].map(([pool, p]) => ({ pool, backends: p.backends.map((b) => [b.id, b.requests, b.inFlight]) })),
      tally: lb.tally.image(), process: counts, metrics: defaults, seq,
      // With a scrape's report only: the traced requests behind the histogram's exemplars.
      exemplars: metrics ? exemplarImage(lb.tally.exemplars()) : undefined,
    } satisfies ToPrimary);
  };
  // Ejection is this worker's own (it sees only its own traffic); the primary is told of each.
  const watched = new WeakSet<Pool>();
  const watchOutliers = (): void => {
    for (const [name, pool] of lb.pools) {
      if (watched.has(pool)) continue;
      watched.add(pool);
      pool.on('change', ({ kind, backend }) => {
        if ((kind === 'ejected' || kind === 'returned') && process.connected) {
          process.send!({ type: 'outlier', pool: name, id: backend.id, ejected: kind === 'ejected' } satisfies ToPrimary);
        }
      });
    }
  };
  watchOutliers();
  // A message for a pool this worker does not have (one a reload removed) has nothing to apply to.
  const pool = (name: string): Pool | undefined => lb.services.get(name)?.pool;
  const ready = new Promise<void>((resolve) => {
    process.on('message', (message: ToWorker) => {
      try {
        if (message.type === 'pools') {
          for (const image of message.pools) {
            const target = pool(image.pool);
            if (target !== undefined) applyPool(target, image.backends);
          }
          resolve();
        } else if (message.type === 'health') {
          const target = pool(message.pool);
          const backend = target?.get(message.id);
          if (backend !== undefined) target!.setHealth(backend, message.healthy, message.reason);
        } else if (message.type === 'change') {
          const target = pool(message.pool);
          if (target !== undefined) applyChange(target, message);
          process.send?.({ type: 'ack', seq: message.seq } satisfies ToPrimary);
        } else if (message.type === 'report') {
          void report(message.seq, message.metrics === true);
        } else if (message.type === 'config') {
          lb.applyConfig(message.config);
          watchOutliers();
        } else if (message.type === 'rate') {
          const resolve = asked.get(message.seq);
          asked.delete(message.seq);
          resolve?.({ left: message.left, reset: message.reset });
        } else if (message.type === 'tls') {
          lb.applyTls(message.update);
          if (message.seq !== undefined) process.send?.({ type: 'ack', seq: message.seq } satisfies ToPrimary);
        } else if (message.type === 'shutdown') {
          stop('SIGTERM');
        }
      } catch (err) {
        log.error({ err, message }, 'cannot apply a change from the primary');
      }
    });
  });
  // The primary is gone: nobody will tell this worker about the pool any more.
  process.on('disconnect', () => {
    // Nobody will answer: the requests waiting go through as they would without a limit.
    for (const resolve of asked.values()) resolve(UNDECIDED);
    asked.clear();
    stop('SIGTERM');
  });
  process.send!({ type: 'hello' } satisfies ToPrimary);
  await ready;
  let address;
  try {
    address = await lb.start();
  } catch (err) {
    // The primary decides: exit the whole balancer (nothing listens yet) or restart this worker.
    const e = err as NodeJS.ErrnoException;
    flushLogger(log);
    process.send!({ type: 'failed', code: e.code, message: e.message } satisfies ToPrimary, () => process.exit(1));
    return lb;
  }
  process.send!({ type: 'listening', port: address.port } satisfies ToPrimary);
  setInterval(() => void report(), STATS_INTERVAL_MS).unref();
  return lb;
}
