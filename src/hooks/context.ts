import type { Logger } from 'pino';
import type { RequestContext } from '../context/request-context.js';
import { replaceRawHeaders } from '../proxy/headers.js';
import { answer, type AnswerHeaders } from '../routing/compiled-route.js';
import { ListHeaders } from './headers.js';
import type { HookRun } from './run.js';
import type { HookBackend, HookContext, HookHeaders, HookRequestHead, HookResponseHead } from './types.js';

const EMPTY = Buffer.alloc(0);

/** The request head as hooks edit it: the request's own fields, replaced whole on an edit (both engines read them from there). */
class RequestView implements HookRequestHead {
  readonly #ctx: RequestContext;
  readonly #commit: (list: string[]) => void;

  constructor(ctx: RequestContext) {
    this.#ctx = ctx;
    this.#commit = (list) => replaceRawHeaders(ctx.req, list);
  }

  get method(): string {
    return this.#ctx.method;
  }

  get url(): string {
    return this.#ctx.path;
  }

  set url(target: string) {
    if (typeof target !== 'string' || target.charCodeAt(0) !== 47 /* / */ || /[\s#]/.test(target)) {
      throw new TypeError(`invalid request target ${JSON.stringify(target)}: expected a path (and query) starting with /, without spaces or #`);
    }
    this.#ctx.req.url = target;
  }

  /** A view of the fields as they are now (a route's filter may have replaced them since the last look). */
  get headers(): HookHeaders {
    return new ListHeaders(this.#ctx.req.rawHeaders, this.#commit);
  }
}

/** A response head for onResponse: its fields as a list the hooks' edits replace. */
export class ResponseHead implements HookResponseHead {
  readonly status: number;
  readonly headers: ListHeaders;
  readonly error: string | undefined;

  constructor(status: number, list: readonly string[], error: string | undefined) {
    this.status = status;
    this.headers = new ListHeaders(list, () => undefined);
    this.error = error;
  }
}

/**
 * What a hook is given (HookContext): reads through to the request's context, and the two
 * actions onRequest may take. One per request, made on its first hook call.
 */
export class HookCtx implements HookContext {
  readonly #run: HookRun;
  readonly #ctx: RequestContext;
  #request: RequestView | undefined = undefined;

  constructor(run: HookRun, ctx: RequestContext) {
    this.#run = run;
    this.#ctx = ctx;
  }

  get id(): string {
    return this.#ctx.id;
  }

  get request(): HookRequestHead {
    return (this.#request ??= new RequestView(this.#ctx));
  }

  get clientAddress(): string {
    return this.#ctx.clientIp;
  }

  get route(): string {
    return this.#ctx.route;
  }

  get pool(): string {
    return this.#run.pool?.name ?? this.#ctx.pool;
  }

  get backend(): HookBackend | undefined {
    return this.#ctx.backend;
  }

  get tries(): number {
    return this.#ctx.tries;
  }

  get explain(): object | undefined {
    return this.#ctx.explain?.toJSON();
  }

  get state(): Record<string, unknown> {
    return this.#run.state;
  }

  get log(): Logger {
    return this.#run.log;
  }

  respond(status: number, body?: string | Buffer, headers?: Readonly<Record<string, string>>): void {
    const run = this.#run;
    if (run.phase !== 'onRequest' && !(run.phase === 'onResponse' && run.answering)) {
      throw new Error(`respond() is for onRequest (and onResponse on the balancer's own error answers), not ${run.phase}`);
    }
    if (!Number.isInteger(status) || status < 200 || status > 599) throw new RangeError(`respond(): status ${status} is not an integer from 200 to 599`);
    const ctx = this.#ctx;
    // A hook that answers after it was abandoned (HOOK_TIMEOUT) is too late: the client has its answer.
    if (run.done || ctx.res.headersSent || ctx.clientClosed) return;
    const bytes = body === undefined ? EMPTY : typeof body === 'string' ? Buffer.from(body) : body;
    run.answered();
    answer(ctx, status, bytes, answerHeaders(headers));
  }

  usePool(name: string): void {
    const run = this.#run;
    if (run.phase !== 'onRequest') throw new Error(`usePool() is for onRequest, not ${run.phase}`);
    const target = run.set.target(name);
    if (target === undefined) throw new Error(`usePool(): no pool named ${JSON.stringify(name)}`);
    run.pool = target;
  }
}

/** A hook's answer headers as `answer` takes them, its Content-Type apart. */
function answerHeaders(headers: Readonly<Record<string, string>> | undefined): AnswerHeaders | undefined {
  if (headers === undefined) return undefined;
  const list: { name: string; value: string }[] = [];
  let contentType = 'text/plain; charset=utf-8';
  const check = new ListHeaders([], () => undefined);
  for (const [name, value] of Object.entries(headers)) {
    // Checked as any field a hook sets (a token, no CR or LF).
    check.set(name, value);
    if (name.toLowerCase() === 'content-type') contentType = value;
    else list.push({ name, value });
  }
  return { headers: list, contentType };
}
