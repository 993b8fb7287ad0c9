import type { ClaimMatch, ClientCertificateMatch, HeaderMatch, MatchSpec, PathMatch, QueryMatch, TlvMatch } from './route-spec.js';
import { CLAIM_NAME, parseTlvKey, TLV_EXPECTED } from '../edge/request-keys.js';
import { at, headerValue, list, oneOf, record, regex, text, token, type Where } from './spec-fields.js';

export const PATH_TYPES = ['Exact', 'PathPrefix', 'RegularExpression'] as const;
const VALUE_TYPES = ['Exact', 'RegularExpression'] as const;
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
const MATCH_KEYS = ['path', 'method', 'headers', 'queryParams', 'clientCertificate', 'proxyProtocolTlv', 'jwtClaims'];
const TLV_KEYS = ['type', 'value'];
const PATH_KEYS = ['type', 'value'];
const VALUE_KEYS = ['type', 'name', 'value'];

/** The match used when a route gives none: every request. */
export const MATCH_ALL: MatchSpec = Object.freeze({
  path: Object.freeze({ type: 'PathPrefix', value: '/' }),
  method: undefined,
  headers: Object.freeze([]),
  queryParams: Object.freeze([]),
});

/** Gateway API's path grammar for Exact and PathPrefix (an RFC 3986 path of pchars). */
const PATH_CHARS = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+$/;
const PATH_EXPECTED = "an absolute path: starts with /, characters A-Z a-z 0-9 -._~!$&'()*+,;=:@ or %XX, no //, /./, /../, %2F or #, not ending in /. or /..";

/** One entry of `matches`, with Gateway API's defaults filled in. */
export function parseMatch(w: Where, field: string, value: unknown): MatchSpec {
  const m = record(w, field, value, MATCH_KEYS);
  return {
    path: parsePath(w, at(field, 'path'), m.path),
    method: m.method === undefined || m.method === null ? undefined : oneOf(w, at(field, 'method'), m.method, METHODS, undefined),
    headers: parseValues(w, at(field, 'headers'), m.headers, true),
    queryParams: parseValues(w, at(field, 'queryParams'), m.queryParams, false),
    ...(m.clientCertificate === undefined || m.clientCertificate === null ? {} : { clientCertificate: parseClientCertificate(w, at(field, 'clientCertificate'), m.clientCertificate) }),
    ...(m.proxyProtocolTlv === undefined || m.proxyProtocolTlv === null ? {} : { proxyProtocolTlv: parseTlvMatch(w, at(field, 'proxyProtocolTlv'), m.proxyProtocolTlv) }),
    ...(m.jwtClaims === undefined || m.jwtClaims === null ? {} : { jwtClaims: parseClaims(w, at(field, 'jwtClaims'), m.jwtClaims) }),
  };
}

/** `clientCertificate: { subject: { type, value }, san: { type, value } }`: at least one of the two. */
function parseClientCertificate(w: Where, field: string, value: unknown): ClientCertificateMatch {
  const c = record(w, field, value, ['subject', 'san']);
  if (c.subject === undefined && c.san === undefined) w.missing(at(field, 'subject'), 'a subject or a san condition ({ type: Exact | RegularExpression, value })');
  const condition = (key: 'subject' | 'san'): { type: 'Exact' | 'RegularExpression'; value: string } | undefined => {
    if (c[key] === undefined || c[key] === null) return undefined;
    const f = at(field, key);
    const v = record(w, f, c[key], ['type', 'value']);
    const type = oneOf(w, at(f, 'type'), v.type, VALUE_TYPES, 'Exact');
    const raw = text(w, at(f, 'value'), v.value, key === 'subject' ? 'a subject as RFC 4514 writes it, such as CN=client,O=Example' : 'a subject alternative name, such as spiffe://example.org/app');
    return { type, value: type === 'RegularExpression' ? regex(w, at(f, 'value'), raw) : raw };
  };
  const subject = condition('subject');
  const san = condition('san');
  return { ...(subject === undefined ? {} : { subject }), ...(san === undefined ? {} : { san }) };
}

/** `jwtClaims: [{ name, value, type }]`: claims of the token the route's JWT filter verifies, each once. */
function parseClaims(w: Where, field: string, value: unknown): ClaimMatch[] {
  const out: ClaimMatch[] = [];
  for (const [i, item] of list(w, field, value, 'claim matches ({ name, value, type })').entries()) {
    const f = `${field}[${i}]`;
    const v = record(w, f, item, VALUE_KEYS);
    const type = oneOf(w, at(f, 'type'), v.type, VALUE_TYPES, 'Exact');
    const name = text(w, at(f, 'name'), v.name, 'a top-level claim name (such as sub, role)');
    if (!CLAIM_NAME.test(name)) w.fail(at(f, 'name'), name, 'a top-level claim name (such as sub, role)');
    if (out.some((c) => c.name === name)) w.fail(at(f, 'name'), name, 'each claim once per match');
    const raw = text(w, at(f, 'value'), v.value, 'the claim\'s value as text (a number or boolean as written, anything else as JSON)');
    out.push({ type, name, value: type === 'RegularExpression' ? regex(w, at(f, 'value'), raw) : raw });
  }
  return out;
}

/**
 * `proxyProtocolTlv: { type: authority | 0xE0, value: { type: Exact | RegularExpression, value } }`:
 * a TLV of the connection's PROXY protocol v2 header (PROXY_PROTOCOL on); a connection without it
 * does not match.
 */
function parseTlvMatch(w: Where, field: string, value: unknown): TlvMatch {
  const t = record(w, field, value, TLV_KEYS);
  const given = t.type;
  const key = typeof given === 'number' ? parseTlvKey(String(given)) : typeof given === 'string' ? parseTlvKey(given) : undefined;
  if (key === undefined) w.fail(at(field, 'type'), given, TLV_EXPECTED);
  const v = record(w, at(field, 'value'), t.value, TLV_KEYS);
  const type = oneOf(w, at(at(field, 'value'), 'type'), v.type, VALUE_TYPES, 'Exact');
  const raw = text(w, at(at(field, 'value'), 'value'), v.value, key!.text ? 'the TLV\'s value as text' : 'the TLV\'s value in lowercase hex');
  return { tlv: key!.name, type, value: type === 'RegularExpression' ? regex(w, at(at(field, 'value'), 'value'), raw) : raw };
}

function parsePath(w: Where, field: string, value: unknown): PathMatch {
  if (value === undefined || value === null) return MATCH_ALL.path;
  const p = record(w, field, value, PATH_KEYS);
  const type = oneOf(w, at(field, 'type'), p.type, PATH_TYPES, 'PathPrefix');
  if (type === 'RegularExpression') {
    const pattern = text(w, at(field, 'value'), p.value, 'a regular expression matched against the whole path');
    return { type, value: regex(w, at(field, 'value'), pattern) };
  }
  if (p.value === undefined || p.value === null) return { type, value: '/' };
  const path = text(w, at(field, 'value'), p.value, PATH_EXPECTED);
  if (!path.startsWith('/') || !PATH_CHARS.test(path) || /\/\/|\/\.\/|\/\.\.\/|%2f/i.test(path) || path.endsWith('/.') || path.endsWith('/..')) {
    w.fail(at(field, 'value'), path, PATH_EXPECTED);
  }
  // Gateway API: for PathPrefix "a trailing / is ignored" (/abc/ matches /abc, /abc/ and /abc/x), so the
  // prefix is kept without it and compared element by element.
  if (type === 'PathPrefix' && path.length > 1 && path.endsWith('/')) return { type, value: path.slice(0, -1) };
  return { type, value: path };
}

/**
 * `headers` or `queryParams`. Gateway API says only the first of several conditions on one name
 * counts; we reject the duplicate instead, since the second condition would be silently ignored.
 */
function parseValues(w: Where, field: string, value: unknown, header: true): HeaderMatch[];
function parseValues(w: Where, field: string, value: unknown, header: false): QueryMatch[];
function parseValues(w: Where, field: string, value: unknown, header: boolean): (HeaderMatch | QueryMatch)[] {
  const out: (HeaderMatch | QueryMatch)[] = [];
  const seen = new Set<string>();
  const items = list(w, field, value, header ? 'header matches ({ name, value, type })' : 'query parameter matches ({ name, value, type })');
  for (const [i, item] of items.entries()) {
    const f = `${field}[${i}]`;
    const v = record(w, f, item, VALUE_KEYS);
    const type = oneOf(w, at(f, 'type'), v.type, VALUE_TYPES, 'Exact');
    const given = token(w, at(f, 'name'), v.name, header ? undefined : 'a query parameter name (an RFC 9110 token)');
    const name = header ? given.toLowerCase() : given;
    if (seen.has(name)) w.fail(at(f, 'name'), given, `each ${header ? 'header (case-insensitive)' : 'query parameter'} once per match`);
    seen.add(name);
    const raw = headerValue(w, at(f, 'value'), v.value, false);
    out.push({ type, name, value: type === 'RegularExpression' ? regex(w, at(f, 'value'), raw) : raw });
  }
  return out;
}
