import pino from 'pino';
import { strategyNames } from '../../src/balancer/index.js';
import { envLayer, resolveConfig } from '../../src/config/index.js';
import { LoadBalancer, type Strategy } from '../../src/index.js';

/** The two engines (transports) every proxy rule must hold on. */
export type EngineName = 'node' | 'fast';

export interface Balancer {
  readonly lb: LoadBalancer;
  readonly port: number;
  readonly url: string;
}

const silent = pino({ level: 'silent' });

/**
 * A balancer in this process on 127.0.0.1 and an ephemeral port, configured by environment
 * names (`PROXY_TIMEOUT`, `RETRIES`, …) over a few defaults that keep cases independent of each
 * other: no active health checks (every backend is marked up before start, so a backend sees
 * only proxied requests), no outlier detection unless asked, a short shutdown. Stopped when the
 * test ends.
 */
export async function startBalancer(t: { after(fn: () => unknown): void }, engine: EngineName, backends: readonly string[],
  env: Readonly<Record<string, string>> = {}, strategy?: Strategy): Promise<Balancer> {
  const config = resolveConfig([envLayer({
    HOST: '127.0.0.1', PORT: '0', ENGINE: engine, BACKENDS: backends.join(','), STRATEGY: 'round-robin',
    OUTLIER_CONSECUTIVE_FAILURES: '0', SHUTDOWN_TIMEOUT: '500ms', RETRIES: '0', ...env,
  })], strategyNames());
  const lb = new LoadBalancer(config, { logger: silent, externalHealth: true, strategy });
  for (const backend of lb.pool.backends) lb.pool.setHealth(backend, true);
  const { port } = await lb.start();
  t.after(() => lb.stop());
  return { lb, port, url: `http://127.0.0.1:${port}` };
}

/** A strategy that takes the first backend not excluded: which backend a try and its retry reach is then known. */
export const firstAvailable: Strategy = { name: 'first-available', pick: (healthy, _request, exclude) => healthy.find((b) => exclude?.has(b) !== true) };

/**
 * Resolves once `condition` holds, checking after each turn of the event loop and then every few
 * ms, at most `tries` times (then rejects naming `what`): for state with no event of its own.
 */
export async function until(condition: () => boolean | Promise<boolean>, what: string, tries = 2_000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await condition()) return;
    await new Promise((resolve) => (i < 10 ? setImmediate(resolve) : setTimeout(resolve, 5)));
  }
  throw new Error(`never happened: ${what}`);
}

/**
 * Resolves once `read()` has kept the same value over `checks` looks `every` ms apart (bounded by
 * `tries`): for a transfer held back by backpressure, which stops without an event.
 */
export async function settled(read: () => number, checks = 5, every = 50, tries = 400): Promise<number> {
  let last = read();
  let same = 0;
  for (let i = 0; i < tries && same < checks; i++) {
    await new Promise((resolve) => setTimeout(resolve, every));
    const now = read();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}
