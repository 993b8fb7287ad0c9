import type { RequestContext } from '../../context/index.js';
import type { Cancellable } from '../../context/request-context.js';
import { ProxyError } from '../../errors/index.js';
import { replaceRawHeaders } from '../../proxy/headers.js';
import type { PolicyRefusals } from '../../metrics/policy-refusals.js';
import { answer } from '../compiled-route.js';
import type { AuthPolicy, Refusal, Verdict } from './policy.js';
import { notePolicy, ruleOf } from '../../proxy/policy-explain.js';
import { AUTH_FILTERS, authKey } from './explain-key.js';

const INTERNAL_BODY = Buffer.from('500 Internal Server Error\n');

/**
 * Runs `policy` on a request and calls `pass` when it may go on, or answers the refusal. While
 * the policy works asynchronously the request is held as it arrived: nothing reads its body
 * (node:http leaves it in the socket, the fast engine keeps it until a try takes it), and
 * `ctx.attempt` is the hold, so a client that leaves (`ctx.abort`) aborts the work (a
 * sub-request's socket is released by undici, a bcrypt comparison's result is dropped).
 */
export function authorize(ctx: RequestContext, policy: AuthPolicy, refusals: PolicyRefusals, pass: () => void): void {
  const now = policy.check(ctx);
  if (now !== undefined) {
    settle(ctx, policy, refusals, now, pass);
    return;
  }
  const controller = new AbortController();
  const hold: Cancellable = { cancel: (reason) => controller.abort(reason) };
  ctx.attempt = hold;
  ctx.log.debug({ policy: policy.name, path: ctx.path }, 'waiting for authentication');
  const done = (verdict: Verdict | undefined, err: unknown): void => {
    if (ctx.attempt === hold) ctx.attempt = undefined;
    if (ctx.clientClosed || ctx.res.headersSent) return;
    if (controller.signal.aborted) {
      // Stopped for another reason than the client leaving (the balancer shutting down).
      const reason = controller.signal.reason as unknown;
      const error = reason instanceof ProxyError ? reason : new ProxyError('LB_ERR_INTERNAL', String(reason));
      ctx.error = error;
      answer(ctx, error.status, Buffer.from(`${error.status} ${error.message}\n`), undefined);
      return;
    }
    if (verdict === undefined) {
      ctx.log.error({ err, policy: policy.name }, 'authentication filter failed');
      ctx.error = new ProxyError('LB_ERR_INTERNAL', `${policy.name} failed: ${(err as Error | undefined)?.message ?? String(err)}`);
      answer(ctx, 500, INTERNAL_BODY, undefined);
      return;
    }
    settle(ctx, policy, refusals, verdict, pass);
  };
  policy.verify(ctx, controller.signal).then((v) => done(v, undefined), (err: unknown) => done(undefined, err));
}

function settle(ctx: RequestContext, policy: AuthPolicy, refusals: PolicyRefusals, verdict: Verdict, pass: () => void): void {
  // Read before Authorization is stripped below.
  if (ctx.explaining === true) explain(ctx, policy, verdict);
  if (!isGrant(verdict)) {
    ctx.error = verdict;
    ctx.policy = policy.name;
    refusals.add(policy.name, ctx.route);
    ctx.log.info({ code: verdict.code, policy: policy.name, route: ctx.route, status: verdict.status }, verdict.message);
    answer(ctx, verdict.status, verdict.body, verdict);
    return;
  }
  const strip = !policy.keepAuthorization;
  if (strip || policy.sets.length > 0) replaceRawHeaders(ctx.req, edited(ctx.req.rawHeaders, strip, policy.sets, verdict));
  pass();
}

/** The filter's decision, for X-LB-Explain. */
function explain(ctx: RequestContext, policy: AuthPolicy, verdict: Verdict): void {
  const granted = isGrant(verdict);
  notePolicy(ctx, {
    policy: policy.name, rule: ruleOf(ctx.route, AUTH_FILTERS[policy.name] ?? policy.name, ''), key: authKey(policy.name, ctx.req.rawHeaders),
    decision: granted ? 'allowed' : 'refused', ...(granted ? {} : { code: verdict.code, status: verdict.status, reason: verdict.message }),
  });
}

function isGrant(v: Verdict): v is readonly string[] {
  return Array.isArray(v);
}

/**
 * The request's headers without `Authorization` (when `strip`) and without the client's own
 * values of the headers the filter sets (a client must not pass as `X-User: admin`), then with
 * the filter's values: a new list, the old one is never edited in place.
 */
function edited(raw: readonly string[], strip: boolean, sets: readonly string[], add: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if ((strip && lower === 'authorization') || sets.includes(lower)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  for (let i = 0; i + 1 < add.length; i += 2) out.push(add[i]!, add[i + 1]!);
  return out;
}

export type { Refusal };
