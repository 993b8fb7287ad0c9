import type { MatchSpec, RouteSpec } from './route-spec.js';
import type { ClientCertificate } from '../tls/client-certificate.js';
import { claimText, parseTlvKey, tlvText, type TlvKey } from '../edge/request-keys.js';

/** What TLV, claim and certificate matches read (the request's context). */
export interface TlvSource {
  readonly proxyTlvs?: Buffer | undefined;
  /**
   * Claims verified for routes with claim matches, by route: the payload, or null when the
   * route's JWT filter found no valid token. A route not in it is not decided yet.
   */
  readonly routeClaims?: ReadonlyMap<object, Readonly<Record<string, unknown>> | null> | undefined;
  /** The client's verified TLS certificate (TLS_CLIENT_AUTH), for certificate matches. */
  readonly clientCertificate?: ClientCertificate | undefined;
}

/** Precedence classes of a path match, in order: Exact, then RegularExpression, then PathPrefix. */
export const EXACT = 0;
export const REGEX = 1;
export const PREFIX = 2;
const SLASH = 0x2f;
const EQUALS = 0x3d;

/** A header or query parameter condition, compiled. */
export interface ValueTest {
  readonly name: string;
  /** The value to compare as is, or undefined when `regex` decides. */
  readonly exact: string | undefined;
  readonly regex: RegExp | undefined;
}

/** One match of one route, compiled once per table. */
export interface Rule {
  readonly route: RouteSpec;
  readonly routeIndex: number;
  readonly match: MatchSpec;
  readonly matchIndex: number;
  /** EXACT, REGEX or PREFIX: the path's precedence class. */
  readonly pathRank: number;
  /** The Exact path, the regex source, or the prefix without its trailing slash (`/` is ''). */
  readonly path: string;
  /** Anchored at both ends: the whole path must match. */
  readonly pathRegex: RegExp | undefined;
  readonly method: string | undefined;
  readonly headers: readonly ValueTest[];
  readonly queryParams: readonly ValueTest[];
  /** Conditions on the client's verified certificate: `subject` and `san` (any of its names); empty for most rules. */
  readonly clientCert: readonly ValueTest[];
  /** A condition on a PROXY protocol v2 TLV of the connection; undefined for none. */
  readonly tlv: { readonly key: TlvKey; readonly test: ValueTest } | undefined;
  /** Conditions on claims of the token the route's JWT filter verifies; empty for none. */
  readonly claims: readonly ValueTest[];
  /** Nothing but the path to check (no method, header, query, certificate, TLV or claim condition). */
  readonly pathOnly: boolean;
}

/**
 * Regexes match the whole value (path, header or query parameter), as Envoy's safe_regex does:
 * `^(?:…)$`, so `/v[0-9]` does not match `/v1/x`.
 */
function anchored(source: string): RegExp {
  return new RegExp(`^(?:${source})$`);
}

/**
 * The one empty list every rule without such conditions shares: a match reads the lists' lengths,
 * and one shared object stays in the CPU cache where a thousand empty ones would not.
 */
const NONE: readonly ValueTest[] = Object.freeze([]);

export function compileRule(route: RouteSpec, routeIndex: number, match: MatchSpec, matchIndex: number): Rule {
  const { type, value } = match.path;
  const pathRank = type === 'Exact' ? EXACT : type === 'RegularExpression' ? REGEX : PREFIX;
  const tests = (list: MatchSpec['headers'] | MatchSpec['queryParams']): readonly ValueTest[] => list.length === 0 ? NONE :
    list.map((m) => ({ name: m.name, exact: m.type === 'Exact' ? m.value : undefined, regex: m.type === 'Exact' ? undefined : anchored(m.value) }));
  const rule = {
    route,
    routeIndex,
    match,
    matchIndex,
    pathRank,
    path: pathRank === PREFIX && value === '/' ? '' : value,
    pathRegex: pathRank === REGEX ? anchored(value) : undefined,
    method: match.method,
    headers: tests(match.headers),
    queryParams: tests(match.queryParams),
    clientCert: tests([
      ...(match.clientCertificate?.subject === undefined ? [] : [{ name: 'subject', ...match.clientCertificate.subject }]),
      ...(match.clientCertificate?.san === undefined ? [] : [{ name: 'san', ...match.clientCertificate.san }]),
    ]),
    tlv: match.proxyProtocolTlv === undefined ? undefined : {
      key: parseTlvKey(match.proxyProtocolTlv.tlv)!,
      test: tests([{ type: match.proxyProtocolTlv.type, name: match.proxyProtocolTlv.tlv, value: match.proxyProtocolTlv.value }])[0]!,
    },
    claims: tests(match.jwtClaims ?? []),
  };
  const pathOnly = rule.method === undefined && rule.headers.length === 0 && rule.queryParams.length === 0 && rule.clientCert.length === 0
    && rule.tlv === undefined && rule.claims.length === 0;
  return { ...rule, pathOnly };
}

/** Precedence within one hostname tier, as HTTPRoute orders matches. */
export function byPrecedence(a: Rule, b: Rule): number {
  return (
    a.pathRank - b.pathRank ||
    b.path.length - a.path.length ||
    (b.method === undefined ? 0 : 1) - (a.method === undefined ? 0 : 1) ||
    b.headers.length - a.headers.length ||
    b.clientCert.length - a.clientCert.length ||
    b.queryParams.length - a.queryParams.length ||
    (b.tlv === undefined ? 0 : 1) - (a.tlv === undefined ? 0 : 1) ||
    b.claims.length - a.claims.length ||
    a.routeIndex - b.routeIndex ||
    a.matchIndex - b.matchIndex
  );
}

/**
 * Whether the request meets every condition of the rule. `pathEnd` is where the path ends in
 * `url` (its `?` or its length). Paths, headers and query values are compared as received,
 * without percent-decoding. Allocates only to test a regex or a query parameter by regex.
 */
export function ruleMatches(rule: Rule, method: string, url: string, pathEnd: number, raw: readonly string[], source?: TlvSource): boolean {
  if (!pathMatches(rule, url, pathEnd)) return false;
  if (rule.pathOnly) return true;
  if (rule.method !== undefined && rule.method !== method) return false;
  const headers = rule.headers;
  for (let i = 0; i < headers.length; i++) {
    const test = headers[i]!;
    const at = headerIndex(raw, test.name);
    if (at < 0 || !valueMatches(test, raw[at]!, 0, raw[at]!.length)) return false;
  }
  const query = rule.queryParams;
  for (let i = 0; i < query.length; i++) {
    const test = query[i]!;
    const start = pathEnd < url.length ? queryValueStart(url, pathEnd + 1, test.name) : -1;
    if (start < 0 || !valueMatches(test, url, start, foundEnd)) return false;
  }
  const tlv = rule.tlv;
  if (tlv !== undefined) {
    // Read (and made text) only for a rule that asks, once path, method, headers and query matched.
    const value = tlvText(source?.proxyTlvs, tlv.key);
    if (value === undefined || !valueMatches(tlv.test, value, 0, value.length)) return false;
  }
  if (rule.clientCert.length > 0 && !certificateMatches(rule.clientCert, source?.clientCertificate)) return false;
  const claims = rule.claims;
  if (claims.length > 0) {
    // Not decided yet (no token verified for this route): it matches for now, and the router
    // verifies the token with the route's JWT filter, then asks again.
    const verified = source?.routeClaims?.get(rule.route);
    if (verified === undefined) return true;
    if (verified === null) return false;
    for (let i = 0; i < claims.length; i++) {
      const value = claimText(verified, claims[i]!.name);
      if (value === undefined || !valueMatches(claims[i]!, value, 0, value.length)) return false;
    }
  }
  return true;
}

/** Every certificate condition holds: the subject, and a SAN condition by any one of the names. */
function certificateMatches(tests: readonly ValueTest[], cert: ClientCertificate | undefined): boolean {
  if (cert === undefined) return false;
  for (const test of tests) {
    if (test.name === 'subject' ? !valueMatches(test, cert.subject, 0, cert.subject.length) : !cert.sans.some((san) => valueMatches(test, san, 0, san.length))) return false;
  }
  return true;
}

function pathMatches(rule: Rule, url: string, pathEnd: number): boolean {
  const path = rule.path;
  if (rule.pathRank === EXACT) return pathEnd === path.length && url.startsWith(path);
  if (rule.pathRank === PREFIX) {
    // Element-wise: /v1 matches /v1, /v1/ and /v1/x, never /v10.
    const n = path.length;
    return pathEnd >= n && url.startsWith(path) && (pathEnd === n || url.charCodeAt(n) === SLASH);
  }
  return rule.pathRegex!.test(pathEnd === url.length ? url : url.slice(0, pathEnd));
}

function valueMatches(test: ValueTest, s: string, start: number, end: number): boolean {
  if (test.exact !== undefined) return end - start === test.exact.length && s.startsWith(test.exact, start);
  return test.regex!.test(start === 0 && end === s.length ? s : s.slice(start, end));
}

/** The index in `raw` of the first value of header `lower` (a lowercase name), or -1. */
function headerIndex(raw: readonly string[], lower: string): number {
  for (let i = 0; i + 1 < raw.length; i += 2) if (sameName(raw[i]!, lower)) return i + 1;
  return -1;
}

/** ASCII case-insensitive comparison against a lowercase name, without lowercasing (no allocation). */
function sameName(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Where the value found by the last queryValueStart ends (kept here so no pair is allocated). */
let foundEnd = 0;

/** Start of the first value of query parameter `name` (exact case) in `url` from `from`, or -1; `a` alone has value ''. */
function queryValueStart(url: string, from: number, name: string): number {
  const n = name.length;
  for (let i = from; i <= url.length; ) {
    let amp = url.indexOf('&', i);
    if (amp < 0) amp = url.length;
    if (i + n <= amp && url.startsWith(name, i)) {
      if (i + n === amp) {
        foundEnd = amp;
        return amp;
      }
      if (url.charCodeAt(i + n) === EQUALS) {
        foundEnd = amp;
        return i + n + 1;
      }
    }
    i = amp + 1;
  }
  return -1;
}
