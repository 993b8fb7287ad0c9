import type { HookContext } from './types.js';

/**
 * Every member of HookContext, in the order docs/hooks.md describes them. `satisfies` keeps each
 * entry a real member; `Complete` fails the build when the type gains a member this list (and so
 * the reference, which a test checks against it) lacks.
 */
export const HOOK_CONTEXT_KEYS = [
  'id', 'request', 'clientAddress', 'route', 'pool', 'backend', 'tries', 'explain', 'state', 'log', 'respond', 'usePool',
] as const satisfies readonly (keyof HookContext)[];

type Missing = Exclude<keyof HookContext, (typeof HOOK_CONTEXT_KEYS)[number]>;
/** `true` only when no member of HookContext is missing from HOOK_CONTEXT_KEYS. */
export type Complete = [Missing] extends [never] ? true : { missing: Missing };
const complete: Complete = true;
void complete;
