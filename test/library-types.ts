/**
 * Type-level tests of the library's API, checked by the build (`tsc -p tsconfig.json`): each
 * `@ts-expect-error` fails the build when the line below it type-checks after all. Nothing here
 * runs (the file is not a `*.test.ts`).
 */
import type { AddressInfo } from 'node:net';
import { createLoadBalancer, type BackendState, type LoadBalancerInput, type Strategy, type StrategyName } from '../src/index.js';

export const named: LoadBalancerInput = { strategy: 'least-connections' };
export const every: StrategyName[] = ['round-robin', 'weighted-round-robin', 'least-connections', 'random', 'power-of-two-choices', 'peak-ewma', 'consistent-hash'];
// @ts-expect-error -- not a strategy's name
export const typo: LoadBalancerInput = { strategy: 'nope' };
// @ts-expect-error -- no name outside the union without a module
export const unnamed: StrategyName = 'round_robin';
// A name of its own only with the module that makes the strategy.
export const custom: LoadBalancerInput = { strategyModule: './my-strategy.js', strategy: 'my-strategy' };
const first: Strategy = { name: 'first', pick: (snapshot) => snapshot[0] };
export const object: LoadBalancerInput = { strategy: first };

export async function documented(): Promise<number> {
  const lb = createLoadBalancer({ backends: ['http://127.0.0.1:1'], strategy: 'round-robin' });
  // start() resolves with the traffic listener's address.
  const address: AddressInfo = await lb.start();
  // The README's snippet: backends' state through the pool.
  const states: BackendState[] = lb.pool.backends.map((b) => b.state);
  for (const backend of lb.pool.backends) {
    console.log(backend.id, backend.url, backend.state, backend.weight); // state: up, down, ejected, draining or maintenance
  }
  // @ts-expect-error -- a string is not a strategy name
  createLoadBalancer({ strategy: String('round-robin') });
  await lb.stop();
  return address.port + states.length;
}

/** Pools and routes in the library input, typed from the same schema as the config file. */
export const routed: LoadBalancerInput = {
  pools: {
    api: { backends: ['http://127.0.0.1:1'], strategy: 'least-connections', health: { path: '/health' }, retry: { retries: 1 } },
    web: { backends: 'http://127.0.0.1:2' },
  },
  routes: [
    { name: 'api', hostnames: ['api.example.com'], matches: [{ path: { type: 'PathPrefix', value: '/v1' } }], backendRefs: [{ name: 'api' }] },
    { name: 'web', backendRefs: [{ name: 'web', weight: 9 }, { name: 'api', weight: 1 }] },
  ],
};
// @ts-expect-error -- a pool needs its backends
export const poolWithout: LoadBalancerInput = { pools: { api: { strategy: 'random' } } };
// @ts-expect-error -- not a path match type
export const badMatch: LoadBalancerInput = { routes: [{ name: 'x', matches: [{ path: { type: 'Prefix' } }] }] };
// @ts-expect-error -- not a per-pool setting
export const globalOnly: LoadBalancerInput = { pools: { api: { backends: 'http://127.0.0.1:1', port: 8080 } } };

export function livePools(): number {
  const lb = createLoadBalancer(routed);
  // Each pool's live API, as `lb.pool` is the default pool's.
  return lb.pools.get('api')!.backends.length + (lb.routes === undefined ? 0 : 1);
}

// Hooks: objects typed by their phases (ctx is a HookContext without annotations), or module paths.
export const hooked: LoadBalancerInput = {
  hooks: [
    './hooks/auth.js',
    {
      name: 'typed',
      onRequest: (ctx) => { if (ctx.request.url === '/ping') ctx.respond(200, 'pong'); ctx.state.seen = ctx.clientAddress; },
      selectBackend: (_ctx, candidates) => candidates.find((b) => b.inFlight === 0),
      onUpstreamRequest: async (_ctx, head) => { head.headers.set('x-a', '1'); },
      onResponse: (_ctx, head) => { head.headers.delete('server'); },
      onLog: (_ctx, line) => { line.extra = 1; },
    },
  ],
};
// @ts-expect-error -- a phase's name must be one of the five
export const misspeltPhase: LoadBalancerInput = { hooks: [{ onReqest: () => undefined }] };
// @ts-expect-error -- respond takes a status number
export const badRespond: LoadBalancerInput = { hooks: [{ onRequest: (ctx) => ctx.respond('200') }] };
