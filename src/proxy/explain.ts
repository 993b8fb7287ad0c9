import type { AdminToken } from '../admin/token.js';
import type { PickRequest, Strategy } from '../balancer/index.js';
import type { RequestContext } from '../context/index.js';
import { hasRoom, type Backend, type Pool } from '../pool/index.js';
import { isHeader } from './headers.js';
import type { PolicyNote } from './policy-explain.js';

/** The request header that asks for an explanation (with ADMIN_TOKEN as its value), and the response header that carries it. */
export const EXPLAIN_HEADER = 'x-lb-explain';
/** The most an explanation header may hold; candidates beyond it are counted, not listed. */
export const EXPLAIN_MAX_BYTES = 4096;

/**
 * Tells whether a request asks for an explanation: `X-LB-Explain: <ADMIN_TOKEN>`. Only made when
 * a token is configured; a request without the header costs one pass over its raw header names.
 */
export class ExplainGate {
  readonly #token: AdminToken;

  constructor(token: AdminToken) {
    this.#token = token;
  }

  requested(raw: readonly string[]): boolean {
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (isHeader(name, EXPLAIN_HEADER)) return this.#token.matches(raw[i + 1]!.trim());
    }
    return false;
  }
}

/** Why a backend was not a candidate, or not chosen. */
type Skip = 'down' | 'ejected' | 'draining' | 'maintenance' | 'full' | 'excluded';

interface Candidate {
  id: string;
  skipped?: Skip;
  inFlight: number;
  latencyMs: number;
  weight: number;
  /** Slow start and health warnings: the share of its weight it takes now. */
  factor: number;
}

interface Decision {
  /** `first`, `retry` (after a failure), or `queued` (after waiting for a backend with room). */
  readonly after: 'first' | 'retry' | 'queued';
  readonly chosen: string | undefined;
  readonly candidates: Candidate[];
  readonly strategyDetail?: Record<string, unknown>;
  failed?: { backend: string; code: string; reason: string };
}

/**
 * The record of how one request was routed: for each pick, every backend with its figures
 * (requests in flight, latency EWMA, weight and current factor) or why it was skipped, what the
 * strategy itself says of the request (a hash key and slot), and the choice; each retry with
 * the failure that caused it; first, the route that sent it here and why (`route`, `why`,
 * `pool`). Sent back as JSON in `X-LB-Explain`, bounded in size.
 */
export class Explanation {
  readonly #strategy: Strategy;
  readonly #pool: Pool;
  readonly #decisions: Decision[] = [];
  /** How the request got to this pool: the route (null for none), why it matched, and the pool's name. */
  readonly #routing: { readonly route: string | null; readonly why: string; readonly pool: string; readonly policies?: readonly PolicyNote[] };

  constructor(strategy: Strategy, pool: Pool, ctx: Pick<RequestContext, 'route' | 'routeReason' | 'pool'> & { readonly policies?: readonly PolicyNote[] | undefined }) {
    this.#strategy = strategy;
    this.#pool = pool;
    // The edge policies that let it through (a rate limit's remaining requests, say) come first.
    const policies = ctx.policies;
    this.#routing = { route: ctx.route === '' ? null : ctx.route, why: ctx.routeReason, pool: ctx.pool, ...(policies === undefined ? {} : { policies }) };
  }

  /** Records a pick (`chosen` undefined: none could be made), made before the request starts on it. */
  picked(request: PickRequest, chosen: Backend | undefined, excluded: ReadonlySet<Backend> | undefined, after: Decision['after']): void {
    const candidates = this.#pool.backends.map((b): Candidate => {
      // The availability rule's reasons, in its order (see `routable` and `hasRoom`).
      const skipped: Skip | undefined = b.admin !== 'enabled' ? b.admin : !b.healthy ? 'down' : b.ejected ? 'ejected'
        : excluded?.has(b) === true ? 'excluded' : !hasRoom(b) ? 'full' : undefined;
      return {
        id: b.id, ...(skipped === undefined ? {} : { skipped }), inFlight: Math.max(0, b.inFlight),
        latencyMs: Math.round(b.latency * 1000) / 1000, weight: b.weight, factor: Math.round(b.weightFactor * 1000) / 1000,
      };
    });
    const detail = explainStrategy(this.#strategy, request);
    this.#decisions.push({ after, chosen: chosen?.id, candidates, ...(detail === undefined ? {} : { strategyDetail: detail }) });
  }

  /** The last pick's backend failed with `code`; a retry follows (or not). */
  failed(backend: Backend, code: string, reason: string): void {
    const last = this.#decisions.at(-1);
    if (last !== undefined) last.failed = { backend: backend.id, code, reason };
  }

  toJSON(): object {
    return { ...this.#routing, strategy: this.#strategy.name, decisions: this.#decisions, chosen: this.#decisions.at(-1)?.chosen ?? null };
  }

  /** The JSON for the response header, at most EXPLAIN_MAX_BYTES (candidates dropped from the end, and counted). */
  header(): string {
    let text = JSON.stringify(this);
    if (text.length <= EXPLAIN_MAX_BYTES) return text;
    const decisions = this.#decisions.map((d) => ({ ...d, candidates: [...d.candidates] }));
    let omitted = 0;
    while (text.length > EXPLAIN_MAX_BYTES) {
      const fullest = decisions.reduce((a, b) => (b.candidates.length > a.candidates.length ? b : a));
      const keep = fullest.candidates.filter((c) => c.id === fullest.chosen || c.id === fullest.failed?.backend);
      const drop = fullest.candidates.findLastIndex((c) => !keep.includes(c));
      if (drop < 0) break;
      fullest.candidates.splice(drop, 1);
      omitted++;
      text = JSON.stringify({ ...this.#routing, strategy: this.#strategy.name, decisions, chosen: decisions.at(-1)?.chosen ?? null, omittedCandidates: omitted });
    }
    return text;
  }
}

/** What a strategy says about a request (its hash key and slot), through wrappers such as sticky sessions. */
function explainStrategy(strategy: Strategy, request: PickRequest): Record<string, unknown> | undefined {
  const s = strategy as Strategy & { explain?: (r: PickRequest) => Record<string, unknown> | undefined; inner?: Strategy };
  if (typeof s.explain === 'function') return s.explain(request);
  return s.inner === undefined ? undefined : explainStrategy(s.inner, request);
}
