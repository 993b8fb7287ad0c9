export { enterHooks, HookRun, isThenable } from './run.js';
export type { ProxySeam, Resumable } from './run.js';
export { HookChain, HookErrors, HookSet } from './chain.js';
export type { RouteHooks } from './chain.js';
export { HookModuleError, isHooks, loadHookModule, named } from './load.js';
export type { HookModuleOptions, NamedHooks } from './load.js';
export { HOOK_CONTEXT_KEYS } from './context-keys.js';
export { PHASES } from './types.js';
export type { HookBackend, HookContext, HookHeaders, HookLogLine, HookRequestHead, HookResponseHead, Hooks, MaybePromise, Phase } from './types.js';
