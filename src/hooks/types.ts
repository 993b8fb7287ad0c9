import type { Logger } from 'pino';

/** A value, or a promise of it: every phase may be synchronous or asynchronous. */
export type MaybePromise<T> = T | PromiseLike<T>;

/**
 * Header fields as a hook reads and edits them: names are case-insensitive, values as received.
 * Edits replace the request's (or response's) whole field list once, so a hook that only reads costs
 * nothing.
 */
export interface HookHeaders {
  /** The field's values joined by `, ` (Set-Cookie's by `\n`), or undefined when absent. */
  get(name: string): string | undefined;
  has(name: string): boolean;
  /** Replaces every field of that name with one. */
  set(name: string, value: string): void;
  append(name: string, value: string): void;
  delete(name: string): void;
  /** Every field as sent, in order: `[name, value]` pairs. */
  entries(): [string, string][];
}

/** The request head: as the client sent it, after the route's filters (forwarding headers are added after the hooks). */
export interface HookRequestHead {
  readonly method: string;
  /** The request target: path and query (origin form), as received; setting it rewrites what the backend is asked for. */
  url: string;
  readonly headers: HookHeaders;
}

/** A response head: the backend's, or the balancer's own answer (then `error` is its code). */
export interface HookResponseHead {
  readonly status: number;
  readonly headers: HookHeaders;
  /** The error code (`LB_ERR_…`) when this is the balancer's own error answer; undefined for a backend's response. */
  readonly error: string | undefined;
}

/** A backend as hooks see it: its identity and load, nothing of its connections. */
export interface HookBackend {
  readonly id: string;
  readonly url: string;
  readonly weight: number;
  /** Requests in flight on it now. */
  readonly inFlight: number;
}

/** The access line's fields (reqId, method, path, status, bytes, ms, backend, route, pool, client, …). */
export type HookLogLine = Record<string, unknown>;

/**
 * What a hook is given for one request: the request head, where it is going, and a `state`
 * object of its own. Nothing of either engine's internals: sockets, parsers and connections
 * stay out of reach. One per request; never shared between requests.
 */
export interface HookContext {
  /** The request id (X-Request-Id), as the access line and the backend see it. */
  readonly id: string;
  readonly request: HookRequestHead;
  /** The client's address (TRUSTED_PROXIES and PROXY protocol applied). */
  readonly clientAddress: string;
  /** The route that matched ('' before routing, without routes, or when none matched). */
  readonly route: string;
  /** The pool the request goes to ('default' without routes). */
  readonly pool: string;
  /** The backend chosen, once one is (selectBackend on). */
  readonly backend: HookBackend | undefined;
  /** Tries so far: 1 until a retry. */
  readonly tries: number;
  /** How the request was routed, when it asked (X-LB-Explain with the admin token): the header's JSON. */
  readonly explain: object | undefined;
  /** This request's own object, shared by its hooks and phases: what one phase leaves for the next. */
  readonly state: Record<string, unknown>;
  /** The request's logger: its lines carry the request id. */
  readonly log: Logger;
  /** onRequest: answers the request here (the backend is never asked); the later phases of this request do not run. */
  respond(status: number, body?: string | Buffer, headers?: Readonly<Record<string, string>>): void;
  /** onRequest: sends the request to this pool, instead of where the routes would (throws on an unknown pool). */
  usePool(name: string): void;
}

/**
 * A hook module's phases, each optional, each synchronous or asynchronous.
 * A phase left out costs nothing per request.
 */
export interface Hooks {
  /** In logs and metrics (`lb_hook_errors_total{hook}`); a module's file name by default. */
  readonly name?: string;
  /** Before routing (a route's hooks: once it matched, after its authentication): may answer, edit the head, choose a pool. */
  onRequest?(ctx: HookContext): MaybePromise<void>;
  /**
   * After each pick of the strategy (`ctx.backend`): the first, a queued request's as it leaves the
   * queue, and each retry's (`ctx.tries` > 1, the candidates without the backends tried). Return a
   * candidate (or its id) to send the request there instead, `null` to refuse every backend (503;
   * on a retry: the failure it would have retried is answered), or nothing to keep the strategy's
   * choice. A choice that is full or not among the candidates is not taken (the availability rule).
   */
  selectBackend?(ctx: HookContext, candidates: readonly HookBackend[]): MaybePromise<HookBackend | string | null | undefined | void>;
  /** Before each try goes to its backend (a retry: again, from the head as the first try's hooks found it): edit the head the backend is sent. */
  onUpstreamRequest?(ctx: HookContext, head: HookRequestHead): MaybePromise<void>;
  /**
   * On the response head before it goes to the client: edit its fields (a returned promise holds
   * the head until it settles, from any backend). On the balancer's own answers (its errors, and
   * routing's: no route, redirects, direct responses, refusals) `ctx.respond` replaces the
   * answer, and `head.error` is the error code when it is one.
   */
  onResponse?(ctx: HookContext, head: HookResponseHead): MaybePromise<void>;
  /** When the access line is written: add or change fields; return `false` to keep it from the log (sent elsewhere). */
  onLog?(ctx: HookContext, line: HookLogLine): void | boolean | PromiseLike<unknown>;
}

/** The five phases, in the order a request meets them. */
export const PHASES = ['onRequest', 'selectBackend', 'onUpstreamRequest', 'onResponse', 'onLog'] as const;
export type Phase = (typeof PHASES)[number];
