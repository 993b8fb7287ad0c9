import type { Logger } from 'pino';
import type { RouteTarget } from '../routing/compiled-route.js';
import type { NamedHooks } from './load.js';
import type { Hooks, Phase } from './types.js';

/** One hook's function for one phase. */
export interface Step<F> {
  readonly hook: string;
  readonly fn: F;
}

type PhaseFn<P extends Phase> = NonNullable<Hooks[P]>;

/**
 * The hooks of one scope (global, or a route's with the global ones before them), compiled once
 * per configuration: each phase's functions in order, or undefined when no hook has that phase,
 * so a phase nobody uses is one check per request.
 */
export class HookChain {
  readonly onRequest: readonly Step<PhaseFn<'onRequest'>>[] | undefined;
  readonly selectBackend: readonly Step<PhaseFn<'selectBackend'>>[] | undefined;
  readonly onUpstreamRequest: readonly Step<PhaseFn<'onUpstreamRequest'>>[] | undefined;
  readonly onResponse: readonly Step<PhaseFn<'onResponse'>>[] | undefined;
  readonly onLog: readonly Step<PhaseFn<'onLog'>>[] | undefined;
  readonly names: readonly string[];

  constructor(hooks: readonly NamedHooks[]) {
    this.names = hooks.map((h) => h.name);
    this.onRequest = steps(hooks, 'onRequest');
    this.selectBackend = steps(hooks, 'selectBackend');
    this.onUpstreamRequest = steps(hooks, 'onUpstreamRequest');
    this.onResponse = steps(hooks, 'onResponse');
    this.onLog = steps(hooks, 'onLog');
  }

  get empty(): boolean {
    return this.names.length === 0;
  }
}

function steps<P extends Phase>(hooks: readonly NamedHooks[], phase: P): Step<PhaseFn<P>>[] | undefined {
  const out: Step<PhaseFn<P>>[] = [];
  for (const { name, hooks: h } of hooks) {
    const fn = h[phase];
    // Bound once here: a module's hooks may use `this`.
    if (typeof fn === 'function') out.push({ hook: name, fn: (fn as unknown as (...a: unknown[]) => unknown).bind(h) as unknown as PhaseFn<P> });
  }
  return out.length === 0 ? undefined : out;
}

/** A route's hooks: its own onRequest (the global ones ran before routing) and the chain its requests use from then on. */
export interface RouteHooks {
  readonly onRequest: HookChain['onRequest'];
  readonly chain: HookChain;
}

/** `lb_hook_errors_total`: failures and timeouts by hook and phase, kept across reloads. */
export class HookErrors {
  readonly #counts = new Map<string, number>();

  add(hook: string, phase: Phase): void {
    const key = `${hook}\n${phase}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /** By `hook\nphase`, or undefined when none failed. */
  image(): Record<string, number> | undefined {
    return this.#counts.size === 0 ? undefined : Object.fromEntries(this.#counts);
  }

  /** The labels of an image's key. */
  static labels(key: string): { hook: string; phase: string } {
    const at = key.indexOf('\n');
    return { hook: key.slice(0, at), phase: key.slice(at + 1) };
  }
}

/**
 * The hooks of one configuration: the global chain, each route's, HOOK_TIMEOUT and where pools
 * are. A reload makes a new set; a request keeps the set it started with to its end.
 */
export class HookSet {
  readonly global: HookChain;
  readonly routes: ReadonlyMap<string, RouteHooks>;
  /** HOOK_TIMEOUT in ms: an asynchronous phase still pending then is abandoned. */
  readonly timeout: number;
  readonly errors: HookErrors;
  readonly log: Logger;
  readonly #targets: () => ReadonlyMap<string, RouteTarget>;

  constructor(global: readonly NamedHooks[], routes: ReadonlyMap<string, readonly NamedHooks[]>, options: {
    readonly timeout: number; readonly errors: HookErrors; readonly log: Logger; readonly targets: () => ReadonlyMap<string, RouteTarget>;
  }) {
    this.global = new HookChain(global);
    const byRoute = new Map<string, RouteHooks>();
    for (const [route, own] of routes) {
      if (own.length === 0) continue;
      byRoute.set(route, { onRequest: new HookChain(own).onRequest, chain: new HookChain([...global, ...own]) });
    }
    this.routes = byRoute;
    this.timeout = options.timeout;
    this.errors = options.errors;
    this.log = options.log;
    this.#targets = options.targets;
  }

  /** No hook anywhere: requests do not meet this set at all. */
  get empty(): boolean {
    return this.global.empty && this.routes.size === 0;
  }

  /** The pool of that name, as routes send to it. */
  target(name: string): RouteTarget | undefined {
    return this.#targets().get(name);
  }

  /** Every hook's name, for the start-up log. */
  describe(): { global: readonly string[]; routes: Record<string, readonly string[]> } {
    const routes: Record<string, readonly string[]> = {};
    for (const [name, r] of this.routes) routes[name] = r.chain.names;
    return { global: this.global.names, routes };
  }
}
