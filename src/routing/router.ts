import type { Logger } from 'pino';
import type { RequestContext } from '../context/index.js';
import { ACCESS_DENIED_BODY, type Edge } from '../edge/edge.js';
import { ProxyError } from '../errors/index.js';
import { answer, CompiledRoute, type RouteTarget } from './compiled-route.js';
import { requestHost } from './header-edit.js';
import { AuthShared } from './auth/index.js';
import type { Mirrors } from './mirror.js';
import type { RouteSpec } from './route-spec.js';
import { RouteTable } from './route-table.js';
import type { Rule } from './rule.js';
import type { RateLimiter, RateLimits } from '../rate-limit/index.js';

/** One routing table, compiled: swapped whole by a reload, so a request sees one table. */
interface Compiled {
  readonly table: RouteTable;
  readonly routes: readonly CompiledRoute[];
  /** Each route's rate limit by route index: its RateLimit filter's, else RATE_LIMIT's, else none. */
  readonly limits: readonly (RateLimiter | undefined)[];
  /** RATE_LIMIT's, for what no route matched. */
  readonly globalLimit: RateLimiter | undefined;
  /** Where a request no route matches goes: the default pool, when there is one. */
  readonly fallback: RouteTarget | undefined;
}

const NO_ROUTE = new ProxyError('LB_ERR_NO_ROUTE', 'no route matches the request and there is no default pool');
const NO_ROUTE_BODY = Buffer.from('404 Not Found\n');
const NO_ROUTE_HEADERS = { headers: [{ name: 'cache-control', value: 'no-store' }], contentType: 'text/plain; charset=utf-8' };
/** X-LB-Explain's reason for a request no route matched, sent to the default pool. */
const NO_MATCH = 'no route matched: the default pool';

/**
 * The final handler of the middleware chain when routes are configured: finds the route the
 * request matches (HTTPRoute's precedence, see RouteTable), runs its filters and hands it to the
 * pool its backendRefs pick. A reload swaps the compiled table at once: requests already routed
 * finish where they went.
 */
export class Router {
  #compiled: Compiled;
  /** A pool to hand what is not routed to (`OPTIONS *`, which every proxy answers itself). */
  #any: RouteTarget;
  readonly #mirrors: Mirrors;
  readonly #log: Logger;
  readonly #rateLimits: RateLimits;
  /** Access lists (global, or the route's) are checked once the route is known, before any pool. */
  readonly #edge: Edge | undefined;
  readonly #auth: AuthShared;

  constructor(routes: readonly RouteSpec[], targets: ReadonlyMap<string, RouteTarget>, mirrors: Mirrors, log: Logger, rateLimits: RateLimits, edge?: Edge, auth = new AuthShared()) {
    this.#mirrors = mirrors;
    this.#rateLimits = rateLimits;
    this.#log = log;
    this.#edge = edge;
    this.#auth = auth;
    this.#compiled = this.#compile(routes, targets);
    this.#any = targets.values().next().value!;
  }

  /**
   * Compiles a new table over `targets` and swaps it in. Throws (nothing changed) on an invalid
   * one. Rate limits are the RateLimits' as they are now (a route's unchanged filter keeps its table).
   */
  replace(routes: readonly RouteSpec[], targets: ReadonlyMap<string, RouteTarget>): void {
    const before = this.#compiled;
    this.#compiled = this.#compile(routes, targets);
    for (const route of before.routes) route.close();
    this.#any = targets.values().next().value!;
    // At start the CLI has printed them; a reload's new table is told here.
    for (const warning of this.#compiled.table.unreachable) this.#log.warn(warning);
  }

  /** The compiled table in effect. */
  get table(): RouteTable {
    return this.#compiled.table;
  }

  #compile(routes: readonly RouteSpec[], targets: ReadonlyMap<string, RouteTarget>): Compiled {
    const table = RouteTable.compile(routes);
    const globalLimit = this.#rateLimits.global;
    const limits = this.#rateLimits.forRoutes(routes);
    return { table, routes: routes.map((r) => new CompiledRoute(r, targets, this.#mirrors, this.#auth)), limits, globalLimit, fallback: targets.get('default') };
  }

  readonly handle = (ctx: RequestContext): void => {
    const { table, routes, limits, fallback } = this.#compiled;
    const req = ctx.req;
    const url = req.url ?? '/';
    // `OPTIONS *` is the balancer's to answer (any pool's proxy does), whatever the routes.
    const edge = this.#edge;
    if (url.charCodeAt(0) !== 47 /* / */) {
      if (edge !== undefined && !edge.admit(ctx, undefined)) { refuse(ctx); return; }
      this.#any.proxy.handle(ctx);
      return;
    }
    const rule = table.match(requestHost(req.rawHeaders), req.method ?? 'GET', url, req.rawHeaders, ctx);
    if (rule !== undefined && rule.claims.length > 0 && ctx.routeClaims?.has(rule.route) !== true) {
      this.#verifyClaims(ctx, rule, routes[rule.routeIndex]!);
      return;
    }
    if (rule !== undefined) {
      const route = routes[rule.routeIndex]!;
      if (edge !== undefined && (route.accessList !== undefined || edge.accessList !== undefined)) {
        ctx.route = route.name;
        if (!edge.admit(ctx, route.accessList)) { refuse(ctx); return; }
      }
      const limit = limits[rule.routeIndex];
      // Keyed by a verified claim: the route takes it after its JWT filter.
      if (limit?.afterAuth === true) { route.handle(ctx, rule, limit); return; }
      if (limit !== undefined) {
        ctx.route = route.name;
        const verdict = limit.admit(ctx, route.name);
        if (verdict === false) return;
        // Decided in another process (a cluster's primary): the request waits for the answer.
        if (verdict !== true) { void verdict.then((ok) => { if (ok && !ctx.clientClosed) route.handle(ctx, rule); }); return; }
      }
      route.handle(ctx, rule);
      return;
    }
    if (edge !== undefined && !edge.admit(ctx, undefined)) { refuse(ctx); return; }
    if (fallback !== undefined) {
      ctx.routeReason = NO_MATCH;
      const limit = this.#compiled.globalLimit;
      const verdict = limit === undefined ? true : limit.admit(ctx, '');
      if (verdict === false) return;
      if (verdict !== true) { void verdict.then((ok) => { if (ok && !ctx.clientClosed) fallback.proxy.handle(ctx); }); return; }
      fallback.proxy.handle(ctx);
      return;
    }
    notFound(ctx);
  };

  /**
   * Claim matches: the best rule has conditions on claims, so its route's JWT filter verifies the
   * token now (never an unverified token's claims are read), and the request is routed again with
   * the verdict; each route is asked once per request, so this ends. The filter verifies the
   * token again when the route runs: a second signature check, paid by such requests alone.
   */
  #verifyClaims(ctx: RequestContext, rule: Rule, route: CompiledRoute): void {
    const checked = (ctx.routeClaims ??= new Map());
    route.verifiedClaims(ctx).then((claims) => {
      checked.set(rule.route, claims);
      if (!ctx.clientClosed && !ctx.res.headersSent) this.handle(ctx);
    }, (err: unknown) => {
      this.#log.error({ err, route: route.name }, 'claim match failed');
      checked.set(rule.route, null);
      if (!ctx.clientClosed && !ctx.res.headersSent) this.handle(ctx);
    });
  }
}

/** A client an access list refused: 403 (a gRPC call: PERMISSION_DENIED). */
export function refuse(ctx: RequestContext): void {
  answer(ctx, 403, ACCESS_DENIED_BODY, undefined);
}

function notFound(ctx: RequestContext): void {
  ctx.error = NO_ROUTE;
  ctx.log.info({ code: NO_ROUTE.code, host: requestHost(ctx.req.rawHeaders), path: ctx.req.url }, NO_ROUTE.message);
  answer(ctx, 404, NO_ROUTE_BODY, NO_ROUTE_HEADERS);
}
