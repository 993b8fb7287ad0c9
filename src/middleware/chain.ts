import type { RequestContext } from '../context/request-context.js';

export type Next = (ctx: RequestContext) => void;

/**
 * A middleware. Factories return these; the chain is composed once at start-up. `handle` runs
 * on the way in and calls `next(ctx)` to continue (or answers and does not). `onEnd` runs once
 * when the exchange is over: response finished or connection closed.
 */
export interface Middleware {
  readonly name: string;
  readonly handle?: (ctx: RequestContext, next: Next) => void;
  readonly onEnd?: (ctx: RequestContext) => void;
}

export interface Chain {
  readonly run: Next;
  readonly end: Next;
}

/**
 * Composes middleware around the final handler. Every closure is made here, once; running the
 * chain for a request allocates nothing.
 */
export function compose(middlewares: readonly Middleware[], final: Next): Chain {
  let run = final;
  for (let i = middlewares.length - 1; i >= 0; i--) {
    const handle = middlewares[i]!.handle;
    if (handle === undefined) continue;
    const next = run;
    run = (ctx) => handle(ctx, next);
  }
  const enders = middlewares.flatMap((m) => (m.onEnd === undefined ? [] : [m.onEnd]));
  // The end is timed once, here: the access line and the metrics see the same duration.
  const end: Next = enders.length === 0 ? (ctx) => { ctx.endTime = performance.now(); }
    : enders.length === 1 ? (ctx) => { ctx.endTime = performance.now(); enders[0]!(ctx); }
    : (ctx) => { ctx.endTime = performance.now(); for (const onEnd of enders) onEnd(ctx); };
  return { run, end };
}
