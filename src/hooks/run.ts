import type { Logger } from 'pino';
import type { HeadHolder, HeaderEdit, RequestContext } from '../context/request-context.js';
import { ProxyError } from '../errors/index.js';
import type { Next } from '../middleware/chain.js';
import { hasRoom, type Backend } from '../pool/index.js';
import type { Attempt } from '../proxy/attempt.js';
import type { Transport } from '../proxy/transport.js';
import { isGrpc } from '../proxy/grpc.js';
import { replaceRawHeaders } from '../proxy/headers.js';
import { answer, sendAnswer, type AnswerHeaders, type RouteTarget } from '../routing/compiled-route.js';
import type { HookChain, HookSet, Step } from './chain.js';
import { HookCtx, ResponseHead } from './context.js';
import { isThenable, message } from './thenable.js';
import type { HookBackend, HookLogLine, Phase } from './types.js';

/**
 * What the proxy lets the hooks do after selectBackend (send to the backend chosen, or queue),
 * and after onResponse on its own error answer (answer it).
 */
export interface ProxySeam {
  /** The first pick. */
  picked(ctx: RequestContext, backend: Backend | undefined): void;
  /** A queued request's pick. */
  sendQueued(ctx: RequestContext, backend: Backend): void;
  /** A retry's pick, after `failed`. */
  retryPicked(ctx: RequestContext, failed: Attempt, backend: Backend): void;
  fail(ctx: RequestContext, error: ProxyError): void;
  /** The balancer's own answer for `error`, once onResponse has seen it. */
  answer(ctx: RequestContext, error: ProxyError): void;
}

/** Which pick selectBackend is asked about: the request's first, a queued request's, or a retry's. */
export type PickKind = 'first' | 'queued' | 'retry';

/** A route that a request's hooks held up: it goes on from its filters. */
export interface Resumable {
  resume(ctx: RequestContext, rule: unknown): void;
}

const GLOBAL = 0;
const ROUTE = 1;
const BODY_500 = Buffer.from('500 Internal Server Error\n');
const BODY_504 = Buffer.from('504 Gateway Timeout\n');
const VETOED = new ProxyError('LB_ERR_NO_BACKEND', 'a hook\'s selectBackend refused every backend');

/**
 * Starts a request's hooks (the chain's last step, before routing): its run, then the global
 * onRequest. Without a global onRequest this is one check and `next`.
 */
export function enterHooks(set: HookSet, ctx: RequestContext, next: Next): void {
  const run = new HookRun(set, ctx);
  ctx.hooks = run;
  const steps = set.global.onRequest;
  if (steps === undefined) { next(ctx); return; }
  run.next = next;
  if (run.requestSteps(steps, 0)) run.proceed();
}

/**
 * One request's meeting with the hooks of the configuration it arrived under: runs each phase's
 * steps in order, synchronously while they return plain values, and resumes after a thenable
 * (abandoned at HOOK_TIMEOUT). A failure or timeout answers the request (500 `LB_ERR_HOOK_FAILED`,
 * 504 `LB_ERR_HOOK_TIMEOUT`), logged with the hook's name and counted. It is also the request's
 * response-head editor when a hook has onResponse (`ctx.responseModifier`).
 */
export class HookRun implements HeaderEdit {
  readonly set: HookSet;
  /** The global chain, then the route's (global and route hooks) once a route with hooks matched. */
  chain: HookChain;
  /** Where the global onRequest hands the request on (routing). */
  next: Next | undefined = undefined;
  /** The pool a hook chose (`usePool`). */
  pool: RouteTarget | undefined = undefined;
  /** The backend's response status, set as its head is accepted (Attempt.responded). */
  status = 0;
  /** The phase running, for `respond` and `usePool`, which only some phases may call. */
  phase: Phase = 'onRequest';
  /** The balancer's own error answer is being shown to onResponse. */
  answering = false;
  readonly #ctx: RequestContext;
  #context: HookCtx | undefined = undefined;
  #state: Record<string, unknown> | undefined = undefined;
  /** Answered (respond, a failure, a timeout): nothing more runs for it. */
  #done = false;
  #stage = GLOBAL;
  #routeDone = false;
  #route: Resumable | undefined = undefined;
  #rule: unknown = undefined;
  #proxy: ProxySeam | undefined = undefined;
  #candidates: readonly Backend[] = [];
  #pick: PickKind = 'first';
  /** The try a retry replaces, and why it failed (a veto on the retry answers that). */
  #retryOf: Attempt | undefined = undefined;
  #retryError: ProxyError | undefined = undefined;
  #attempt: Attempt | undefined = undefined;
  #transport: Transport | undefined = undefined;
  /** The request head before the first try's onUpstreamRequest: each try's hooks start from it. */
  #baseHeaders: string[] | undefined = undefined;
  #baseUrl: string | undefined = undefined;
  /** The route's own response modifier (ResponseHeaderModifier), applied before onResponse. */
  #inner: HeaderEdit | undefined = undefined;

  constructor(set: HookSet, ctx: RequestContext) {
    this.set = set;
    this.chain = set.global;
    this.#ctx = ctx;
  }

  /** What hooks are given (made on first use). */
  get context(): HookCtx {
    return (this.#context ??= new HookCtx(this, this.#ctx));
  }

  get state(): Record<string, unknown> {
    return (this.#state ??= {});
  }

  get done(): boolean {
    return this.#done;
  }

  /** A hook answered the request itself (`respond`). */
  answered(): void {
    this.#done = true;
  }

  // ---- onRequest ----

  /** Runs onRequest steps from `from`: true when all ran synchronously and the request goes on. */
  requestSteps(steps: readonly Step<(ctx: HookCtx) => unknown>[], from: number): boolean {
    this.phase = 'onRequest';
    for (let i = from; i < steps.length; i++) {
      const step = steps[i]!;
      let out: unknown;
      try {
        out = step.fn(this.context);
      } catch (err) {
        this.#failed(step.hook, 'onRequest', err);
        return false;
      }
      if (isThenable(out)) {
        this.#await(out, step.hook, 'onRequest', () => { if (this.requestSteps(steps, i + 1)) this.proceed(); });
        return false;
      }
      if (this.#done) return false;
    }
    return true;
  }

  /** onRequest is over and nobody answered: on to the pool a hook chose, else to routing (or the route's filters). */
  proceed(): void {
    const ctx = this.#ctx;
    const target = this.pool;
    if (target !== undefined) {
      ctx.pool = target.name;
      target.proxy.handle(ctx);
    } else if (this.#stage === ROUTE) {
      this.#route!.resume(ctx, this.#rule);
    } else {
      this.next!(ctx);
    }
  }

  /**
   * The request matched route `name` (after its authentication): the route's own onRequest runs,
   * and its chain applies from now on. True: the route goes on; false: answered, sent to the
   * pool a hook chose, or waiting for a hook (then `route.resume(ctx, rule)` follows).
   */
  routed(route: Resumable, name: string, rule: unknown): boolean {
    if (this.#routeDone) return true;
    this.#routeDone = true;
    const own = this.set.routes.get(name);
    if (own === undefined) return true;
    this.chain = own.chain;
    const steps = own.onRequest;
    if (steps === undefined) return true;
    this.#stage = ROUTE;
    this.#route = route;
    this.#rule = rule;
    if (!this.requestSteps(steps, 0)) return false;
    if (this.pool === undefined) return true;
    this.proceed();
    return false;
  }

  // ---- selectBackend ----

  /** Whether a hook has selectBackend (Proxy.handle asks, after the strategy's pick). */
  get selects(): boolean {
    return this.chain.selectBackend !== undefined;
  }

  /**
   * The strategy picked `picked` from `candidates` (for the request's first try, a queued
   * request, or a retry after `failed` with `error`): the hooks may override or veto it; the
   * proxy goes on with the result. A veto on a retry answers the failure it would have retried.
   */
  select(proxy: ProxySeam, candidates: readonly Backend[], picked: Backend | undefined, kind: PickKind = 'first', failed?: Attempt, error?: ProxyError): void {
    this.#proxy = proxy;
    this.#candidates = candidates;
    this.#pick = kind;
    this.#retryOf = failed;
    this.#retryError = error;
    this.#selectSteps(this.chain.selectBackend!, 0, picked);
  }

  /** selectBackend is over: the proxy goes on with `backend`, or answers a veto (null). */
  #selected(backend: Backend | undefined | null): void {
    const ctx = this.#ctx;
    const proxy = this.#proxy!;
    if (backend === null) proxy.fail(ctx, this.#pick === 'retry' ? this.#retryError! : VETOED);
    else if (this.#pick === 'first' || backend === undefined) proxy.picked(ctx, backend);
    else if (this.#pick === 'queued') proxy.sendQueued(ctx, backend);
    else proxy.retryPicked(ctx, this.#retryOf!, backend);
  }

  #selectSteps(steps: NonNullable<HookChain['selectBackend']>, from: number, current: Backend | undefined): void {
    this.phase = 'selectBackend';
    const ctx = this.#ctx;
    for (let i = from; i < steps.length; i++) {
      const step = steps[i]!;
      ctx.backend = current;
      let out: unknown;
      try {
        out = step.fn(this.context, this.#candidates as readonly HookBackend[]);
      } catch (err) {
        this.#failed(step.hook, 'selectBackend', err);
        return;
      }
      if (isThenable(out)) {
        const before = current;
        this.#await(out, step.hook, 'selectBackend', (value) => {
          const next = this.#choice(step.hook, value, before);
          if (next === null) this.#selected(null);
          else this.#selectSteps(steps, i + 1, next);
        });
        return;
      }
      const next = this.#choice(step.hook, out, current);
      if (next === null) { this.#selected(null); return; }
      current = next;
    }
    ctx.backend = current;
    this.#selected(current);
  }

  /** A hook's answer: null vetoes; a candidate with room replaces `current`; anything else keeps it. */
  #choice(hook: string, out: unknown, current: Backend | undefined): Backend | undefined | null {
    if (out === undefined) return current;
    if (out === null) return null;
    const id = typeof out === 'string' ? out : (out as { id?: unknown }).id;
    const found = this.#candidates.find((b) => b.id === id);
    if (found === undefined || !hasRoom(found)) {
      this.#ctx.log.debug({ hook, backend: id }, 'selectBackend\'s choice is not available: the strategy\'s stands');
      return current;
    }
    return found;
  }

  // ---- onUpstreamRequest, and setting up onResponse ----

  /**
   * A try is ready (a retry: after `retryOf`): onUpstreamRequest edits its head, then the
   * transport sends it. Each try's hooks start from the head as the first try's found it (they
   * may read `ctx.tries` and `ctx.backend`), and a retry's head is then made anew.
   */
  send(attempt: Attempt, transport: Transport, retryOf?: Attempt): void {
    const ctx = this.#ctx;
    if (this.chain.onResponse !== undefined && ctx.responseModifier !== this) {
      this.#inner = ctx.responseModifier;
      ctx.responseModifier = this;
    }
    const steps = this.chain.onUpstreamRequest;
    if (steps === undefined) { transport.send(attempt, retryOf); return; }
    const req = ctx.req;
    if (retryOf === undefined || this.#baseHeaders === undefined) {
      // Edits replace the field list, never change it in place: keeping the reference keeps the head.
      this.#baseHeaders = req.rawHeaders;
      this.#baseUrl = req.url;
    } else {
      if (req.rawHeaders !== this.#baseHeaders) replaceRawHeaders(req, this.#baseHeaders);
      if (this.#baseUrl !== undefined) req.url = this.#baseUrl;
      attempt.newHead = true;
    }
    this.#attempt = attempt;
    this.#transport = transport;
    this.#retryOf = retryOf;
    this.#upstreamSteps(steps, 0);
  }

  #upstreamSteps(steps: NonNullable<HookChain['onUpstreamRequest']>, from: number): void {
    this.phase = 'onUpstreamRequest';
    const attempt = this.#attempt!;
    for (let i = from; i < steps.length; i++) {
      const step = steps[i]!;
      let out: unknown;
      try {
        out = step.fn(this.context, this.context.request);
      } catch (err) {
        this.#failed(step.hook, 'onUpstreamRequest', err);
        return;
      }
      if (isThenable(out)) {
        this.#await(out, step.hook, 'onUpstreamRequest', () => { if (!attempt.ended) this.#upstreamSteps(steps, i + 1); });
        return;
      }
    }
    if (!attempt.ended) this.#transport!.send(attempt, this.#retryOf);
  }

  // ---- onResponse ----

  /** The backend's response head, as the transport is about to relay it (HeaderEdit): the route's modifier, then onResponse. */
  apply(headers: readonly string[]): string[] {
    return this.hold(headers, undefined)!;
  }

  /**
   * As `apply`; with a `holder` (a transport that can hold the head), a hook's promise holds the
   * head: undefined is returned and `holder.resumeHead` follows once it settles. Without one, a
   * promise counts as a failure (the head is on its way).
   */
  hold(headers: readonly string[], holder: HeadHolder | undefined): string[] | undefined {
    const edited = this.#inner === undefined ? headers as string[] : this.#inner.apply(headers);
    const steps = this.chain.onResponse;
    if (steps === undefined) return edited;
    return this.#responseSteps(steps, 0, new ResponseHead(this.status, edited, undefined), edited, holder);
  }

  #responseSteps(steps: NonNullable<HookChain['onResponse']>, from: number, head: ResponseHead, edited: string[], holder: HeadHolder | undefined): string[] | undefined {
    this.phase = 'onResponse';
    for (let i = from; i < steps.length; i++) {
      const step = steps[i]!;
      try {
        const out = step.fn(this.context, head);
        if (isThenable(out)) {
          if (holder === undefined) throw new TypeError('onResponse must return synchronously here (the head is being relayed)');
          this.#await(out, step.hook, 'onResponse', () => {
            const list = this.#responseSteps(steps, i + 1, head, edited, holder);
            if (list !== undefined) holder.resumeHead(list);
          });
          return undefined;
        }
      } catch (err) {
        // The backend's response goes as it came, the failure logged and counted.
        this.#report(step.hook, 'onResponse', err);
        return edited;
      }
    }
    return head.headers.list as string[];
  }

  /**
   * The proxy is about to answer `error` itself (Proxy.fail): onResponse sees the head, may add
   * fields or answer otherwise (`respond`). True when the hooks took the answer over: a hook
   * answered, or one returned a promise (the answer waits for it: `proxy.answer` follows, or
   * the hook failure's 500/504). False: the proxy answers now, with the fields the hooks added.
   */
  answerError(proxy: ProxySeam, error: ProxyError): boolean {
    const steps = this.chain.onResponse;
    const code = error.code;
    if (steps === undefined || this.answering || code === 'LB_ERR_HOOK_FAILED' || code === 'LB_ERR_HOOK_TIMEOUT') return false;
    this.answering = true;
    this.#proxy = proxy;
    return this.#errorSteps(steps, 0, new ResponseHead(error.status, [], code), () => proxy.answer(this.#ctx, error));
  }

  /**
   * As `answerError`, for the answers routing makes itself (compiled-route's `answer`: no route,
   * a redirect, a direct response, a refusal of an access list, a rate limit or authentication):
   * the head's error is the request's error code, if it has one. False at once for the hooks'
   * own answers (`respond`, a hook's failure), which no hook sees.
   */
  answerOwn(status: number, body: Buffer, direct: AnswerHeaders | undefined): boolean {
    const steps = this.chain.onResponse;
    if (steps === undefined || this.answering || this.#done) return false;
    this.answering = true;
    const ctx = this.#ctx;
    return this.#errorSteps(steps, 0, new ResponseHead(status, [], ctx.error?.code), () => sendAnswer(ctx, status, body, direct));
  }

  /**
   * Runs onResponse steps on the balancer's own answer's head from `from`: true when answered by
   * a hook or waiting for one (then `then` writes the answer once they are over).
   */
  #errorSteps(steps: NonNullable<HookChain['onResponse']>, from: number, head: ResponseHead, then: () => void): boolean {
    this.phase = 'onResponse';
    for (let i = from; i < steps.length; i++) {
      const step = steps[i]!;
      let out: unknown;
      try {
        out = step.fn(this.context, head);
      } catch (err) {
        // Thrown synchronously: logged and counted, and the balancer's answer goes.
        this.#report(step.hook, 'onResponse', err);
        break;
      }
      if (this.#done) return true;
      if (isThenable(out)) {
        this.#await(out, step.hook, 'onResponse', () => {
          if (!this.#errorSteps(steps, i + 1, head, then)) then();
        });
        return true;
      }
    }
    const ctx = this.#ctx;
    const grpc = isGrpc(ctx);
    // A gRPC answer takes the fields as it is written (its answer does not add the request's response fields to it).
    for (const [name, value] of head.headers.entries()) {
      if (grpc) ctx.res.appendHeader(name, value);
      else ctx.addResponseHeader(name, value);
    }
    this.answering = false;
    return false;
  }

  // ---- onLog ----

  /** The access line: onLog may add fields, or keep it from the log (false). Returns whether to write it. */
  logLine(line: HookLogLine): boolean {
    const steps = this.chain.onLog;
    if (steps === undefined) return true;
    this.phase = 'onLog';
    let write = true;
    for (const step of steps) {
      try {
        const out = step.fn(this.context, line);
        if (out === false) write = false;
        else if (isThenable(out)) out.then(undefined, (err: unknown) => this.#report(step.hook, 'onLog', err));
      } catch (err) {
        this.#report(step.hook, 'onLog', err);
      }
    }
    return write;
  }

  // ---- failures ----

  /** Waits for a phase's thenable, at most HOOK_TIMEOUT; `resume` runs with its value unless the request is over. */
  #await(out: PromiseLike<unknown>, hook: string, phase: Phase, resume: (value: unknown) => void): void {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      this.#timedOut(hook, phase);
    }, this.set.timeout);
    out.then((value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (this.#done || this.#ctx.clientClosed) return;
      try {
        resume(value);
      } catch (err) {
        this.#failed(hook, phase, err);
      }
    }, (err: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.#failed(hook, phase, err);
    });
  }

  /** Logs and counts a failure that does not change the answer (onResponse on a relayed head, onLog). */
  #report(hook: string, phase: Phase, err: unknown): void {
    this.set.errors.add(hook, phase);
    this.#ctx.log.error({ hook, phase, code: 'LB_ERR_HOOK_FAILED', err: message(err) }, `hook ${hook} failed in ${phase}`);
  }

  #failed(hook: string, phase: Phase, err: unknown): void {
    this.#report(hook, phase, err);
    this.#abort(phase, new ProxyError('LB_ERR_HOOK_FAILED', `hook ${hook} failed in ${phase}`, { cause: err }));
  }

  #timedOut(hook: string, phase: Phase): void {
    this.set.errors.add(hook, phase);
    const ms = this.set.timeout;
    this.#ctx.log.error({ hook, phase, code: 'LB_ERR_HOOK_TIMEOUT', timeout: ms }, `hook ${hook} took longer than HOOK_TIMEOUT (${ms}ms) in ${phase}: abandoned`);
    this.#abort(phase, new ProxyError('LB_ERR_HOOK_TIMEOUT', `hook ${hook} took longer than HOOK_TIMEOUT (${ms}ms) in ${phase}`));
  }

  /** The request ends with `error`'s answer, by whichever part owns it at this phase. */
  #abort(phase: Phase, error: ProxyError): void {
    if (this.#done) return;
    this.#done = true;
    const ctx = this.#ctx;
    if (ctx.clientClosed) return;
    if (phase === 'onUpstreamRequest') {
      // The attempt owns the request now: it ends, and the proxy answers (never retried: not a gateway failure).
      this.#attempt!.failed(error);
      return;
    }
    if (phase === 'selectBackend') {
      this.#proxy!.fail(ctx, error);
      return;
    }
    if (ctx.res.headersSent) return;
    if (phase === 'onResponse' && !this.answering && ctx.attempt !== undefined) {
      // A backend's head held for the hook: its attempt stops (never retried), and the proxy answers.
      ctx.attempt.cancel(error);
      return;
    }
    ctx.error = error;
    answer(ctx, error.status, error.status === 504 ? BODY_504 : BODY_500, undefined);
  }

  /** The logger hooks are given. */
  get log(): Logger {
    return this.#ctx.log;
  }
}
