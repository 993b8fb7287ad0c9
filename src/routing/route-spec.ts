import { dirname, resolve } from 'node:path';
import type { RateLimitSpec } from '../rate-limit/spec.js';
import type { CompressionSettings } from '../proxy/compression/index.js';
import { ConfigError, show } from '../config/errors.js';
import type { BasicAuthSpec, ForwardAuthSpec, JwtSpec } from './auth/auth-spec.js';
import { parseFilters } from './parse-filters.js';
import { MATCH_ALL, parseMatch } from './parse-match.js';
import { at, integer, isDnsName, list, record, text, Where } from './spec-fields.js';

export type PathType = 'Exact' | 'PathPrefix' | 'RegularExpression';
export type ValueType = 'Exact' | 'RegularExpression';
/** A PathPrefix value never ends in `/` unless it is `/` (Gateway API ignores the trailing slash). */
export interface PathMatch { readonly type: PathType; readonly value: string }
export interface HeaderMatch { readonly type: ValueType; readonly name: string /* lowercase */; readonly value: string }
export interface QueryMatch { readonly type: ValueType; readonly name: string /* exact case */; readonly value: string }
/** A condition on a TLV of the connection's PROXY protocol v2 header: `tlv` as `parseTlvKey` names it (`authority`, `0xe0`). */
export interface TlvMatch { readonly tlv: string; readonly type: ValueType; readonly value: string }
/** A condition on a claim of the token the route's own JWT filter verifies (a top-level claim, as text). */
export interface ClaimMatch { readonly type: ValueType; readonly name: string; readonly value: string }
export interface MatchSpec {
  readonly path: PathMatch; readonly method: string | undefined; readonly headers: readonly HeaderMatch[]; readonly queryParams: readonly QueryMatch[];
  readonly proxyProtocolTlv?: TlvMatch; readonly jwtClaims?: readonly ClaimMatch[];
  /** Ours: conditions on the client's verified TLS certificate (TLS_CLIENT_AUTH); absent: none. */
  readonly clientCertificate?: ClientCertificateMatch;
}
/** The client certificate's subject (RFC 4514: `CN=client,O=Example`) and subject alternative names (any of them, without their type). */
export interface ClientCertificateMatch { readonly subject?: { readonly type: ValueType; readonly value: string }; readonly san?: { readonly type: ValueType; readonly value: string } }
export interface HeaderModifierSpec { readonly set: readonly { name: string; value: string }[]; readonly add: readonly { name: string; value: string }[]; readonly remove: readonly string[] }
export type PathModifier = { readonly type: 'ReplaceFullPath'; readonly replaceFullPath: string } | { readonly type: 'ReplacePrefixMatch'; readonly replacePrefixMatch: string };
export type FilterSpec =
  | { readonly type: 'RequestHeaderModifier'; readonly requestHeaderModifier: HeaderModifierSpec }
  | { readonly type: 'ResponseHeaderModifier'; readonly responseHeaderModifier: HeaderModifierSpec }
  | { readonly type: 'URLRewrite'; readonly urlRewrite: { readonly hostname?: string; readonly path?: PathModifier } }
  | { readonly type: 'RequestRedirect'; readonly requestRedirect: { readonly scheme?: 'http' | 'https'; readonly hostname?: string; readonly port?: number; readonly path?: PathModifier; readonly statusCode: 301 | 302 | 303 | 307 | 308 } }
  | { readonly type: 'RequestMirror'; readonly requestMirror: { readonly backendRef: { readonly name: string }; readonly percent: number /* 0-100, default 100 */ } }
  | { readonly type: 'DirectResponse'; readonly directResponse: { readonly statusCode: number; readonly body: string; readonly contentType: string; readonly headers: readonly { name: string; value: string }[] } }
  | { readonly type: 'BasicAuth'; readonly basicAuth: BasicAuthSpec }
  | { readonly type: 'ForwardAuth'; readonly forwardAuth: ForwardAuthSpec }
  | { readonly type: 'JWT'; readonly jwt: JwtSpec }
  | { readonly type: 'AccessList'; readonly accessList: { readonly allow: readonly string[]; readonly deny: readonly string[] } }
  // Our own, beside HTTPRoute's: the route's rate limit, instead of RATE_LIMIT.
  | { readonly type: 'RateLimit'; readonly rateLimit: RateLimitSpec }
  | { readonly type: 'Compression'; readonly compression: CompressionSettings /* encodings empty: off for the route */ }
  // Ours: with TLS_CLIENT_AUTH optional, the route's requests need a verified client certificate (else 403).
  | { readonly type: 'ClientCertificate'; readonly clientCertificate: { readonly required: boolean } };
export interface BackendRef { readonly name: string; readonly weight: number /* default 1, 0 = off */ }
export interface RouteSpec {
  readonly name: string;
  readonly hostnames: readonly string[]; // lowercased; exact or leading "*." wildcard; empty = all hosts
  readonly matches: readonly MatchSpec[]; // default when omitted: [{ path: { type: 'PathPrefix', value: '/' } }]
  readonly filters: readonly FilterSpec[];
  readonly backendRefs: readonly BackendRef[];
  /** ES modules of hooks for this route's requests (absolute paths), after HOOKS_MODULE's; see docs/hooks.md. */
  readonly hooks?: readonly string[];
}

const ROUTE_KEYS = ['name', 'hostnames', 'matches', 'filters', 'backendRefs', 'hooks'];
const BACKEND_KEYS = ['name', 'weight'];
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const NAME_EXPECTED = 'a route name: lowercase letters, digits, - and ., starting and ending with a letter or digit, at most 253 characters';
const WILDCARD_EXPECTED = 'a DNS name or *. and a DNS name (letters, digits, - and ., no IP address, no port)';

/**
 * Parses and validates the `routes:` section (a list; absent is no routes), following Gateway
 * API v1 HTTPRoute where it speaks. `pools` are the names backendRefs may use.
 *
 * Where we differ from HTTPRoute: a route is one HTTPRoute rule with its hostnames (several rules
 * are several routes, in order); two conditions on one header or query name are an error (HTTPRoute
 * keeps the first); ReplacePrefixMatch needs every match to be a PathPrefix (HTTPRoute: exactly one
 * match), since the matched rule tells which prefix to replace; DirectResponse is ours (Envoy
 * Gateway has one in its own filter), and may not be combined with RequestRedirect or backendRefs.
 * Throws ConfigError naming the route (by name, or index when unnamed), the field path, the value and what was expected.
 */
export function parseRoutes(data: unknown, pools: ReadonlySet<string>, source: string | undefined): RouteSpec[] {
  if (data === undefined || data === null) return [];
  if (!Array.isArray(data)) {
    throw new ConfigError(`invalid routes ${show(data)}${source === undefined ? '' : ` in ${source}`}: expected a list of routes ({ name, hostnames, matches, filters, backendRefs })`);
  }
  const names = new Set<string>();
  return data.map((item, i) => {
    const label = typeof item === 'object' && item !== null && typeof (item as { name?: unknown }).name === 'string'
      ? show((item as { name: string }).name)
      : `routes[${i}]`;
    // Files a route names (an htpasswd) are relative to the config file's folder.
    const route = parseRoute(new Where(label, source), item, pools, source === undefined ? process.cwd() : dirname(source));
    if (names.has(route.name)) new Where(`routes[${i}]`, source).fail('name', route.name, 'a name no other route uses');
    names.add(route.name);
    return route;
  });
}

function parseRoute(w: Where, value: unknown, pools: ReadonlySet<string>, dir: string): RouteSpec {
  const r = record(w, '', value, ROUTE_KEYS);
  const name = text(w, 'name', r.name, NAME_EXPECTED);
  if (name.length > 253 || !NAME.test(name)) w.fail('name', name, NAME_EXPECTED);
  const hostnames = parseHostnames(w, r.hostnames);
  const given = list(w, 'matches', r.matches, 'matches ({ path, method, headers, queryParams })');
  const matches = given.length === 0 ? [MATCH_ALL] : given.map((m, i) => parseMatch(w, `matches[${i}]`, m));
  const filters = parseFilters(w, r.filters, matches, pools, dir);
  const claims = matches.findIndex((m) => m.jwtClaims !== undefined);
  if (claims >= 0 && !filters.some((f) => f.type === 'JWT')) {
    w.fail(`matches[${claims}].jwtClaims`, matches[claims]!.jwtClaims!.map((c) => c.name), 'a route with a JWT filter: claims are matched on the token that filter verifies');
  }
  const backendRefs = list(w, 'backendRefs', r.backendRefs, 'backend references ({ name, weight })').map((b, i) => parseBackendRef(w, `backendRefs[${i}]`, b, pools));
  const answering = filters.findIndex((f) => f.type === 'RequestRedirect' || f.type === 'DirectResponse');
  const answersItself = answering >= 0;
  if (answersItself && backendRefs.length > 0) {
    w.fail('backendRefs', r.backendRefs, `no backend references: filters[${answering}] (${filters[answering]!.type}) answers the request itself`);
  }
  // Gateway API: all weights 0 is allowed (the request gets a 500), so only an empty list is an error.
  if (!answersItself && backendRefs.length === 0) {
    w.missing('backendRefs', 'at least one backend reference ({ name: POOL }), or a RequestRedirect or DirectResponse filter');
  }
  // Hook modules a route names are relative to the config file's folder, as its other files are.
  const hooks = list(w, 'hooks', r.hooks, 'paths of hook modules').map((h, i) => resolve(dir, text(w, `hooks[${i}]`, h, 'the path of an ES module')));
  return hooks.length === 0 ? { name, hostnames, matches, filters, backendRefs } : { name, hostnames, matches, filters, backendRefs, hooks };
}

function parseHostnames(w: Where, value: unknown): string[] {
  const out: string[] = [];
  for (const [i, item] of list(w, 'hostnames', value, 'hostnames').entries()) {
    const field = `hostnames[${i}]`;
    const name = text(w, field, item, WILDCARD_EXPECTED).toLowerCase();
    if (!isDnsName(name.startsWith('*.') ? name.slice(2) : name)) w.fail(field, item, WILDCARD_EXPECTED);
    if (out.includes(name)) w.fail(field, item, 'each hostname once');
    out.push(name);
  }
  return out;
}

/** A backend reference names a pool; weight 0 keeps it listed but sends it nothing. */
export function parseBackendRef(w: Where, field: string, value: unknown, pools: ReadonlySet<string>): BackendRef {
  const b = record(w, field, value, BACKEND_KEYS);
  return { name: poolName(w, at(field, 'name'), b.name, pools), weight: integer(w, at(field, 'weight'), b.weight, 0, 1_000_000, 1) };
}

export function poolName(w: Where, field: string, value: unknown, pools: ReadonlySet<string>): string {
  const known = pools.size === 0 ? 'a pool name (no pools are defined)' : `one of the pools ${[...pools].sort().join(', ')}`;
  const name = text(w, field, value, known);
  if (!pools.has(name)) w.fail(field, name, known);
  return name;
}
