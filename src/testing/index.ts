/**
 * `l7-balancer/testing`: scenario tests against a real balancer and scripted fake backends.
 *
 * ```ts
 * import { Scenario } from 'l7-balancer/testing';
 * const s = await Scenario.start({ backends: ['a', 'b', 'c'] });
 * s.behave('b', { errorRate: 1 });
 * const seen = await s.load({ requests: 200 });
 * ```
 */
export { Scenario } from './scenario.js';
export type { LoadOptions, LoadResult, ScenarioOptions, ScenarioResults } from './scenario.js';
export { FakeBackend } from './fake-backend.js';
export type { Behaviour, FakeBackendOptions } from './fake-backend.js';
export { runHooks } from './hooks.js';
export type { HookOutcome, HookScript, ScriptedBackend, ScriptedRequest } from './hooks.js';
