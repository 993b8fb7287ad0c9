import type { RequestContext, RouteCache } from '../context/index.js';
import { AccessList } from '../edge/access-list.js';
import { ProxyError } from '../errors/index.js';
import { unreadBody } from '../http1/index.js';
import type { Next } from '../middleware/chain.js';
import type { Pool } from '../pool/index.js';
import { authorize, makePolicy, type AuthPolicy, type AuthShared } from './auth/index.js';
import { JwtAuth } from './auth/jwt-auth.js';
import { answerGrpc, isGrpc } from '../proxy/grpc.js';
import { replaceRawHeaders } from '../proxy/headers.js';
import { EXPLAIN_HEADER } from '../proxy/explain.js';
import { answeredExplanation } from '../proxy/policy-explain.js';
import { HeaderModifier, requestHost, withHost } from './header-edit.js';
import type { Mirrors } from './mirror.js';
import { CompressionPolicy } from '../proxy/compression/index.js';
import { editPath } from './path-edit.js';
import type { FilterSpec, MatchSpec, PathModifier, RouteSpec } from './route-spec.js';
import type { Rule } from './route-table.js';
import { Split } from './split.js';
import type { RateLimiter } from '../rate-limit/rate-limiter.js';

/** A pool as routes see it: where a request goes, and what a mirror picks from. */
export interface RouteTarget {
  readonly name: string;
  readonly pool: Pool;
  readonly proxy: { readonly handle: Next; readonly timeout: number };
}

type Redirect = Extract<FilterSpec, { type: 'RequestRedirect' }>['requestRedirect'];
type Direct = Extract<FilterSpec, { type: 'DirectResponse' }>['directResponse'];

/**
 * One route, compiled once per table: its filters as objects, its backendRefs as a split over
 * the pools. `handle` runs its filters on a request that matched one of its rules and sends it
 * on; without filters it only picks the pool.
 */
export class CompiledRoute {
  readonly name: string;
  /** Its AccessList filter, which replaces ALLOW_CIDRS and DENY_CIDRS for it (checked by the router). */
  readonly accessList: AccessList | undefined;
  readonly #requestHeaders: HeaderModifier | undefined;
  readonly #responseHeaders: HeaderModifier | undefined;
  readonly #rewriteHost: string | undefined;
  readonly #rewritePath: PathModifier | undefined;
  readonly #redirect: Redirect | undefined;
  readonly #direct: { readonly spec: Direct; readonly body: Buffer } | undefined;
  /** Its Compression filter: overrides COMPRESSION for its requests. */
  readonly #compression: CompressionPolicy | undefined;
  readonly #mirrors: readonly { readonly target: RouteTarget; readonly percent: number }[];
  readonly #split: Split<RouteTarget>;
  readonly #mirror: Mirrors;
  /** Why each of its matches matched, by match index (X-LB-Explain): made here, not per request. */
  readonly #reasons: readonly string[];
  /** The one pool of a route without filters: sent there without looking at the rest. */
  readonly #only: RouteTarget | undefined;
  /** Its authentication filter (BasicAuth, ForwardAuth, JWT): runs before every other filter. */
  readonly #auth: AuthPolicy | undefined;
  readonly #shared: AuthShared;
  /** Its ClientCertificate filter: a request without a verified client certificate gets 403. */
  readonly #certificateRequired: boolean;
  /** Given to each of its requests: the metrics find the route's row here, not by name. */
  readonly #cache: RouteCache;

  constructor(spec: RouteSpec, targets: ReadonlyMap<string, RouteTarget>, mirror: Mirrors, shared: AuthShared) {
    this.name = spec.name;
    this.#cache = { name: spec.name, rowsOwner: undefined, rows: [] };
    this.#reasons = (spec.matches.length === 0 ? [undefined] : spec.matches).map((m) => matchReason(m, spec.hostnames));
    this.#mirror = mirror;
    this.#shared = shared;
    this.#auth = makePolicy(spec.filters, shared);
    const mirrors: { target: RouteTarget; percent: number }[] = [];
    let requestHeaders: HeaderModifier | undefined;
    let responseHeaders: HeaderModifier | undefined;
    let rewriteHost: string | undefined;
    let rewritePath: PathModifier | undefined;
    let redirect: Redirect | undefined;
    let direct: { spec: Direct; body: Buffer } | undefined;
    let accessList: AccessList | undefined;
    let compression: CompressionPolicy | undefined;
    for (const filter of spec.filters) {
      switch (filter.type) {
        case 'RequestHeaderModifier': requestHeaders = new HeaderModifier(filter.requestHeaderModifier); break;
        case 'ResponseHeaderModifier': responseHeaders = new HeaderModifier(filter.responseHeaderModifier); break;
        case 'URLRewrite': rewriteHost = filter.urlRewrite.hostname; rewritePath = filter.urlRewrite.path; break;
        case 'RequestRedirect': redirect = filter.requestRedirect; break;
        case 'DirectResponse': direct = { spec: filter.directResponse, body: Buffer.from(filter.directResponse.body) }; break;
        case 'AccessList': accessList = new AccessList(filter.accessList); break;
        case 'Compression': compression = new CompressionPolicy(filter.compression); break;
        case 'RequestMirror': mirrors.push({ target: targets.get(filter.requestMirror.backendRef.name)!, percent: filter.requestMirror.percent }); break;
        case 'BasicAuth': case 'ForwardAuth': case 'JWT': case 'ClientCertificate': break;
      }
    }
    this.#requestHeaders = requestHeaders;
    this.#responseHeaders = responseHeaders;
    this.#rewriteHost = rewriteHost;
    this.#rewritePath = rewritePath;
    this.#redirect = redirect;
    this.#direct = direct;
    this.accessList = accessList;
    this.#mirrors = mirrors;
    this.#compression = compression;
    this.#certificateRequired = spec.filters.some((f) => f.type === 'ClientCertificate' && f.clientCertificate.required);
    this.#split = new Split(spec.backendRefs.map((ref) => ({ target: targets.get(ref.name)!, weight: ref.weight })));
    const on = spec.backendRefs.filter((ref) => ref.weight > 0);
    // The access list is the router's to check, before this route runs.
    this.#only = spec.filters.every((f) => f.type === 'AccessList') && on.length === 1 ? targets.get(on[0]!.name) : undefined;
  }

  /**
   * Runs the route's filters on a request that matched `rule` (one of this route's), then sends it
   * to a pool. `limit`: a rate limit keyed by a verified claim (`jwt:`), taken once the route's
   * authentication has passed (the router takes every other limit before the route runs).
   */
  handle(ctx: RequestContext, rule: Rule, limit?: RateLimiter): void {
    ctx.route = this.name;
    ctx.routeCache = this.#cache;
    ctx.routeReason = this.#reasons[rule.matchIndex] ?? '';
    // The common route: no filter, one pool.
    const only = this.#only;
    if (only !== undefined && limit === undefined && ctx.hooks === undefined) {
      ctx.pool = only.name;
      only.proxy.handle(ctx);
      return;
    }
    if (this.#certificateRequired && ctx.clientCertificate === undefined) {
      // Before authentication: without the certificate the client is nobody the route knows.
      ctx.error = CERTIFICATE_REQUIRED;
      ctx.policy = CERTIFICATE_POLICY;
      this.#shared.refusals.add(CERTIFICATE_POLICY, this.name);
      ctx.log.info({ code: CERTIFICATE_REQUIRED.code, policy: CERTIFICATE_POLICY, route: this.name, status: 403 }, CERTIFICATE_REQUIRED.message);
      answer(ctx, 403, CERTIFICATE_REQUIRED_BODY, undefined);
      return;
    }
    const auth = this.#auth;
    if (auth !== undefined) {
      // Authentication first: a redirect or a direct response behind it is for known clients only.
      authorize(ctx, auth, this.#shared.refusals, limit === undefined ? () => this.#filter(ctx, rule) : () => this.#limited(ctx, rule, limit));
      return;
    }
    if (limit !== undefined) this.#limited(ctx, rule, limit);
    else this.#filter(ctx, rule);
  }

  /** `limit` (after authentication), then the filters. */
  #limited(ctx: RequestContext, rule: Rule, limit: RateLimiter): void {
    const verdict = limit.admit(ctx, this.name);
    if (verdict === false) return;
    // Decided in another process (a cluster's primary): the request waits for the answer.
    if (verdict !== true) { void verdict.then((ok) => { if (ok && !ctx.clientClosed) this.#filter(ctx, rule); }); return; }
    this.#filter(ctx, rule);
  }

  /**
   * For a match on claims: the claims of the request's token as this route's JWT filter verifies
   * it, or null when it has none valid (or the keys cannot be had: the match fails, it is not an error).
   */
  verifiedClaims(ctx: RequestContext): Promise<Readonly<Record<string, unknown>> | null> {
    const auth = this.#auth;
    return auth instanceof JwtAuth ? auth.claims(ctx) : Promise.resolve(null);
  }

  /** Stops what its filters run in the background (a JWKS refresh): a reload replaced its table. */
  close(): void {
    this.#auth?.close?.();
  }

  /** Where a route's hooks resume it once their onRequest is over (see HookRun.routed). */
  resume(ctx: RequestContext, rule: unknown): void {
    this.#filter(ctx, rule as Rule);
  }

  /** The filters after authentication (and the route's hooks' onRequest), then the pool. */
  #filter(ctx: RequestContext, rule: Rule): void {
    if (ctx.hooks !== undefined && !ctx.hooks.routed(this, this.name, rule)) return;
    const prefix = rule.match.path.type === 'PathPrefix' ? rule.match.path.value : undefined;
    if (this.#redirect !== undefined) { this.#answerRedirect(ctx, this.#redirect, prefix); return; }
    if (this.#direct !== undefined) { answer(ctx, this.#direct.spec.statusCode, this.#direct.body, this.#direct.spec); return; }
    const req = ctx.req;
    if (this.#requestHeaders !== undefined) replaceRawHeaders(req, this.#requestHeaders.apply(req.rawHeaders));
    if (this.#rewriteHost !== undefined) replaceRawHeaders(req, withHost(req.rawHeaders, this.#rewriteHost));
    if (this.#rewritePath !== undefined) req.url = editPath(req.url ?? '/', this.#rewritePath, prefix);
    if (this.#responseHeaders !== undefined) ctx.responseModifier = this.#responseHeaders;
    if (this.#compression !== undefined) ctx.compression = this.#compression;
    for (const { target, percent } of this.#mirrors) this.#mirror.send(ctx, target.pool, target.proxy.timeout, percent);
    const target = this.#split.next();
    if (target === undefined) {
      // Gateway API: a rule whose backendRefs all weigh 0 answers 500.
      ctx.error = NO_WEIGHT;
      answer(ctx, 500, NO_WEIGHT_BODY, undefined);
      return;
    }
    ctx.pool = target.name;
    target.proxy.handle(ctx);
  }

  #answerRedirect(ctx: RequestContext, redirect: Redirect, prefix: string | undefined): void {
    const host = requestHost(ctx.req.rawHeaders) ?? '';
    const colon = host.lastIndexOf(':');
    const bare = colon > host.lastIndexOf(']') ? host.slice(0, colon) : host;
    const scheme = redirect.scheme ?? ctx.proto;
    // HTTPRoute: no port given, the scheme's well-known one when a scheme is, else the port the client used.
    const port = redirect.port !== undefined ? `:${redirect.port}`
      : redirect.scheme !== undefined ? '' : colon > host.lastIndexOf(']') ? host.slice(colon) : '';
    const wellKnown = (scheme === 'http' && port === ':80') || (scheme === 'https' && port === ':443');
    const url = ctx.req.url ?? '/';
    const target = redirect.path === undefined ? url : editPath(url, redirect.path, prefix);
    const hostname = redirect.hostname ?? bare;
    // A request without a Host (HTTP/1.0) gets a reference relative to what it asked (RFC 9110 section 10.2.2).
    ctx.res.setHeader('location', hostname === '' ? target : `${scheme}://${hostname}${wellKnown ? '' : port}${target}`);
    answer(ctx, redirect.statusCode, EMPTY, undefined);
  }
}

/**
 * What a match asked for, as X-LB-Explain says it: `match=PathPrefix:/v1 method=GET
 * header=x-env:Exact:canary query=v:Exact:2 host=api.example.com` (hosts as configured).
 */
export function matchReason(match: MatchSpec | undefined, hostnames: readonly string[]): string {
  const parts = [match === undefined ? 'match=PathPrefix:/' : `match=${match.path.type}:${match.path.value}`];
  if (match?.method !== undefined) parts.push(`method=${match.method}`);
  for (const h of match?.headers ?? []) parts.push(`header=${h.name}:${h.type}:${h.value}`);
  for (const q of match?.queryParams ?? []) parts.push(`query=${q.name}:${q.type}:${q.value}`);
  const cert = match?.clientCertificate;
  if (cert?.subject !== undefined) parts.push(`client-cert-subject=${cert.subject.type}:${cert.subject.value}`);
  if (cert?.san !== undefined) parts.push(`client-cert-san=${cert.san.type}:${cert.san.value}`);
  for (const c of match?.jwtClaims ?? []) parts.push(`claim=${c.name}:${c.type}:${c.value}`);
  if (match?.proxyProtocolTlv !== undefined) parts.push(`tlv=${match.proxyProtocolTlv.tlv}:${match.proxyProtocolTlv.type}:${match.proxyProtocolTlv.value}`);
  if (hostnames.length > 0) parts.push(`host=${hostnames.join(',')}`);
  return parts.join(' ');
}

const EMPTY = Buffer.alloc(0);


/** The access line's `policy` and the label of `lb_policy_refusals_total` for a missing client certificate. */
const CERTIFICATE_POLICY = 'client-certificate';
const CERTIFICATE_REQUIRED = new ProxyError('LB_ERR_CLIENT_CERT_REQUIRED', 'the route requires a verified client certificate');
const CERTIFICATE_REQUIRED_BODY = Buffer.from('403 Forbidden: a client certificate is required\n');

const NO_WEIGHT = new ProxyError('LB_ERR_NO_WEIGHT', 'every backendRef of the route weighs 0');
const NO_WEIGHT_BODY = Buffer.from('500 Internal Server Error\n');

/** The headers of an answer the balancer makes, besides its framing: a DirectResponse's, or the 404 of no route. */
export interface AnswerHeaders {
  readonly headers: readonly { readonly name: string; readonly value: string }[];
  readonly contentType: string;
}

/**
 * Answers a request at the balancer (a redirect, a direct response, no weight left, no route).
 * A gRPC call gets its answer the gRPC way instead (HTTP 200, `grpc-status` from `status`, e.g.
 * no route: UNIMPLEMENTED; `grpc-message` the error, or a direct response's text): decided here
 * once for every one of them. A hook's onResponse sees each of them first (HookRun.answerOwn),
 * and may add fields, answer otherwise, or hold it while its promise is pending.
 */
export function answer(ctx: RequestContext, status: number, body: Buffer, direct: AnswerHeaders | undefined): void {
  // Without hooks (or none with onResponse, or the hooks' own answer): one check, or two.
  const hooks = ctx.hooks;
  if (hooks !== undefined && hooks.answerOwn(status, body, direct)) return;
  sendAnswer(ctx, status, body, direct);
}

/** `answer` once the hooks have seen it: writes it. */
export function sendAnswer(ctx: RequestContext, status: number, body: Buffer, direct: AnswerHeaders | undefined): void {
  const res = ctx.res;
  // Asked with the admin token: which policy (or filter) answered, and what the others decided.
  if (ctx.explaining === true) res.setHeader(EXPLAIN_HEADER, answeredExplanation(ctx, status));
  if (isGrpc(ctx)) {
    // A DirectResponse's headers go too (a gRPC client reads them as response metadata).
    if (direct !== undefined) for (const h of direct.headers) res.appendHeader(h.name, h.value);
    if (unreadBody(ctx.req)) res.shouldKeepAlive = false;
    ctx.pool = '';
    answerGrpc(ctx, status, ctx.error?.message ?? (body.length > 0 && body.length <= 1024 ? body.toString('utf8').trim() : undefined));
    return;
  }
  res.statusCode = status;
  if (direct !== undefined) {
    // Appended: a ForwardAuth refusal may carry a header twice (Set-Cookie).
    for (const h of direct.headers) res.appendHeader(h.name, h.value);
    if (body.length > 0) res.setHeader('content-type', direct.contentType);
  } else if (body.length > 0) {
    res.setHeader('content-type', 'text/plain; charset=utf-8');
  }
  res.setHeader('content-length', body.length);
  if (ctx.id !== '') res.setHeader('x-request-id', ctx.id);
  const extra = ctx.responseHeaders;
  if (extra !== undefined) for (let i = 0; i < extra.length; i += 2) res.appendHeader(extra[i]!, extra[i + 1]!);
  // An unread request body would otherwise be read and thrown away before the next request.
  if (unreadBody(ctx.req)) res.shouldKeepAlive = false;
  // Answered here: no pool took it.
  ctx.pool = '';
  ctx.bytes = body.length;
  res.end(ctx.req.method === 'HEAD' ? undefined : body);
}
