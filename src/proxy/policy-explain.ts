import type { RequestContext } from '../context/index.js';
import type { Middleware } from '../middleware/chain.js';
import { EXPLAIN_MAX_BYTES, type ExplainGate } from './explain.js';

/** What an edge policy decided for a request: refused it, let it through, or (shadow mode) would have refused it. */
export type PolicyDecision = 'allowed' | 'refused' | 'would-refuse';

/**
 * One edge policy's part in a request, as X-LB-Explain tells it: which policy (`rate-limit`,
 * `access-list`, `basic-auth`, `forward-auth`, `jwt`), the rule that applied (a route's filter,
 * or the global setting), the key it decided on, the decision, and what else explains it
 * (`remaining`, `retryAfter`, the access list's rule that matched, the refusal's code).
 */
export interface PolicyNote {
  readonly policy: string;
  readonly rule: string;
  readonly key: string | null;
  readonly decision: PolicyDecision;
  readonly [detail: string]: string | number | null;
}

/** The longest key shown: a header or cookie value is the client's, and may be long. */
const KEY_MAX = 128;

/**
 * Records a policy's decision on a request that asked to be explained. Callers check
 * `ctx.explaining === true` first, so a request that did not ask allocates nothing.
 */
export function notePolicy(ctx: RequestContext, note: PolicyNote): void {
  (ctx.policies ??= []).push(note);
}

/** A key as the header may carry it: printable ASCII only, bounded (the client chose it). */
export function shownKey(by: string, value: string): string {
  const clean = value.length > KEY_MAX ? `${value.slice(0, KEY_MAX)}…` : value;
  return `${by}=${clean.replace(/[^\x20-\x7e]/g, '?')}`;
}

/**
 * The rule text of a route's filter (`route api: RateLimit filter`), or of a global setting
 * (`RATE_LIMIT`) for a request no route's filter covers.
 */
export function ruleOf(route: string, filter: string | undefined, global: string): string {
  return filter === undefined ? global : `route ${route === '' ? '(none)' : route}: ${filter} filter`;
}

/**
 * The chain's step that tells, once per request, whether it asked to be explained
 * (`X-LB-Explain: <ADMIN_TOKEN>`): the policies before the proxy and the proxy itself read
 * `ctx.explaining` rather than each scanning the headers. Only made when a token is configured.
 */
export function explainRequests(gate: ExplainGate): Middleware {
  return {
    name: 'explain',
    handle: (ctx, next) => {
      ctx.explaining = gate.requested(ctx.req.rawHeaders);
      next(ctx);
    },
  };
}

/**
 * The X-LB-Explain of a request the balancer answered itself (a policy's refusal, a redirect, a
 * direct response, no route): the route and why it matched, the policies that ran and, for a
 * refusal, which one decided. No pool took it, so there are no backend decisions.
 */
export function answeredExplanation(ctx: RequestContext, status: number): string {
  const policies = ctx.policies ?? [];
  const decided = policies.findLast((p) => p.decision === 'refused');
  const text = JSON.stringify({
    route: ctx.route === '' ? null : ctx.route, why: ctx.routeReason, pool: null, status,
    answeredBy: decided === undefined ? 'balancer' : decided.policy, policies,
  });
  if (text.length <= EXPLAIN_MAX_BYTES) return text;
  // Never more than a few notes; bounded all the same, keeping the deciding one.
  return JSON.stringify({ route: ctx.route === '' ? null : ctx.route, status, answeredBy: decided?.policy ?? 'balancer', policies: decided === undefined ? [] : [decided], omittedPolicies: policies.length - (decided === undefined ? 0 : 1) });
}
