import { CIDR_EXPECTED, parseCidr } from '../edge/cidr.js';
import type { FilterSpec, HeaderModifierSpec, MatchSpec, PathModifier } from './route-spec.js';
import { poolName } from './route-spec.js';
import { parseBasicAuth, parseForwardAuth, parseJwt } from './auth/parse-auth.js';
import { InvalidValue } from '../config/errors.js';
import { defaultBurst, parseRate, type Rate } from '../rate-limit/rate.js';
import { parseRateLimitKey, RATE_LIMIT_MODES, type RateLimitSpec } from '../rate-limit/spec.js';
import type { CompressionSettings } from '../proxy/compression/index.js';
import { DEFAULT_LEVELS, DEFAULT_MIN_SIZE, DEFAULT_TYPES } from '../proxy/compression/index.js';
import { encodings, levels, mediaTypes } from '../config/compression.js';
import { at, dnsName, headerValue, integer, list, oneOf, record, text, token, type Where } from './spec-fields.js';

const FILTER_KEYS = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  URLRewrite: 'urlRewrite',
  RequestRedirect: 'requestRedirect',
  RequestMirror: 'requestMirror',
  DirectResponse: 'directResponse',
  BasicAuth: 'basicAuth',
  ForwardAuth: 'forwardAuth',
  JWT: 'jwt',
  // Ours: ALLOW_CIDRS and DENY_CIDRS for this route (replacing the global lists).
  AccessList: 'accessList',
  // Ours: the route's rate limit, instead of RATE_LIMIT.
  RateLimit: 'rateLimit',
  Compression: 'compression',
  // Ours: with TLS_CLIENT_AUTH optional, a verified client certificate is required on this route.
  ClientCertificate: 'clientCertificate',
} as const;
type FilterType = keyof typeof FILTER_KEYS;
const FILTER_TYPES = Object.keys(FILTER_KEYS) as FilterType[];
const AUTH_TYPES: readonly FilterType[] = ['BasicAuth', 'ForwardAuth', 'JWT'];
const STATUS_REDIRECT = [301, 302, 303, 307, 308] as const;
const PATH_MODIFIERS = ['ReplaceFullPath', 'ReplacePrefixMatch'] as const;
const SCHEMES = ['http', 'https'] as const;
const PATH_EXPECTED = 'an absolute path starting with /';

/**
 * The `filters` of a route, then the rules HTTPRoute sets between them, the matches and the
 * backendRefs (checked by the caller): one of each type but RequestMirror; RequestRedirect not
 * with URLRewrite nor DirectResponse; ReplacePrefixMatch only when every match is a PathPrefix.
 */
export function parseFilters(w: Where, value: unknown, matches: readonly MatchSpec[], pools: ReadonlySet<string>, dir: string): FilterSpec[] {
  const filters: FilterSpec[] = [];
  const seen = new Map<FilterType, number>();
  for (const [i, item] of list(w, 'filters', value, `filters ({ type: ${FILTER_TYPES.join(' | ')}, … })`).entries()) {
    const field = `filters[${i}]`;
    const type = oneOf(w, at(field, 'type'), (item as { type?: unknown } | null)?.type, FILTER_TYPES, undefined);
    const key = FILTER_KEYS[type];
    const f = record(w, field, item, ['type', key]);
    if (f[key] === undefined) w.missing(at(field, key), `the settings of the ${type} filter`);
    const earlier = seen.get(type);
    const auth = AUTH_TYPES.find((t) => t !== type && seen.has(t));
    if (auth !== undefined && AUTH_TYPES.includes(type)) w.fail(at(field, 'type'), type, `one authentication filter per route (filters[${seen.get(auth)}] is ${auth})`);
    if (earlier !== undefined && type !== 'RequestMirror') w.fail(at(field, 'type'), type, `at most one ${type} filter per route (filters[${earlier}] is one)`);
    seen.set(type, i);
    filters.push(parseFilter(w, at(field, key), type, f[key], pools, dir));
    const path = pathModifierOf(filters[filters.length - 1]!);
    if (path?.type === 'ReplacePrefixMatch') {
      const bad = matches.findIndex((m) => m.path.type !== 'PathPrefix');
      if (bad >= 0) w.fail(`matches[${bad}].path.type`, matches[bad]!.path.type, `PathPrefix: ${field} replaces the matched prefix, so every match needs one`);
    }
  }
  // A route that answers the request itself sends nothing on: a filter acting on what is sent would do nothing.
  const answering = seen.get('RequestRedirect') ?? seen.get('DirectResponse');
  if (answering !== undefined) {
    for (const other of ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'Compression'] as const) {
      const j = seen.get(other);
      if (j !== undefined) w.fail(`filters[${j}].type`, other, `no ${other} beside ${filters[answering]!.type}, which answers the request itself (the filter would do nothing)`);
    }
  }
  const redirect = seen.get('RequestRedirect');
  if (redirect !== undefined) {
    for (const other of ['URLRewrite', 'DirectResponse'] as const) {
      const j = seen.get(other);
      if (j !== undefined) w.fail(`filters[${Math.max(j, redirect)}].type`, j > redirect ? other : 'RequestRedirect', `either RequestRedirect or ${other}, not both`);
    }
  }
  return filters;
}

function parseFilter(w: Where, field: string, type: FilterType, value: unknown, pools: ReadonlySet<string>, dir: string): FilterSpec {
  switch (type) {
    case 'BasicAuth':
      return { type, basicAuth: parseBasicAuth(w, field, value, dir) };
    case 'ForwardAuth':
      return { type, forwardAuth: parseForwardAuth(w, field, value) };
    case 'JWT':
      return { type, jwt: parseJwt(w, field, value) };
    case 'RequestHeaderModifier':
      return { type, requestHeaderModifier: parseHeaderModifier(w, field, value) };
    case 'ResponseHeaderModifier':
      return { type, responseHeaderModifier: parseHeaderModifier(w, field, value) };
    case 'URLRewrite': {
      const v = record(w, field, value, ['hostname', 'path']);
      if (v.hostname === undefined && v.path === undefined) w.missing(at(field, 'hostname'), 'a hostname or a path (or both) to rewrite');
      return { type, urlRewrite: { ...optionalHostname(w, field, v.hostname), ...optionalPath(w, field, v.path) } };
    }
    case 'RequestRedirect': {
      const v = record(w, field, value, ['scheme', 'hostname', 'port', 'path', 'statusCode']);
      const scheme = v.scheme === undefined ? {} : { scheme: oneOf(w, at(field, 'scheme'), v.scheme, SCHEMES, undefined) };
      const port = v.port === undefined ? {} : { port: integer(w, at(field, 'port'), v.port, 1, 65535, undefined) };
      const statusCode = oneOf(w, at(field, 'statusCode'), v.statusCode, STATUS_REDIRECT, 302);
      return { type, requestRedirect: { ...scheme, ...optionalHostname(w, field, v.hostname), ...port, ...optionalPath(w, field, v.path), statusCode } };
    }
    case 'RequestMirror': {
      const v = record(w, field, value, ['backendRef', 'percent']);
      if (v.backendRef === undefined) w.missing(at(field, 'backendRef'), 'the pool to mirror to ({ name: POOL })');
      const ref = record(w, at(field, 'backendRef'), v.backendRef, ['name']);
      const name = poolName(w, at(field, 'backendRef.name'), ref.name, pools);
      return { type, requestMirror: { backendRef: { name }, percent: integer(w, at(field, 'percent'), v.percent, 0, 100, 100) } };
    }
    case 'AccessList': {
      const v = record(w, field, value, ['allow', 'deny']);
      if (v.allow === undefined && v.deny === undefined) w.missing(at(field, 'allow'), 'networks to allow or deny (or both)');
      return { type, accessList: { allow: cidrList(w, at(field, 'allow'), v.allow), deny: cidrList(w, at(field, 'deny'), v.deny) } };
    }
    case 'Compression':
      return { type, compression: parseCompression(w, field, value) };
    case 'DirectResponse': {
      const v = record(w, field, value, ['statusCode', 'body', 'contentType', 'headers']);
      const statusCode = integer(w, at(field, 'statusCode'), v.statusCode, 200, 599, undefined);
      const body = v.body === undefined ? '' : v.body;
      if (typeof body !== 'string') w.fail(at(field, 'body'), body, 'a string');
      const contentType = v.contentType === undefined ? 'text/plain; charset=utf-8' : headerValue(w, at(field, 'contentType'), v.contentType, false);
      return { type, directResponse: { statusCode, body, contentType, headers: parsePairs(w, at(field, 'headers'), v.headers) } };
    }
    case 'RateLimit':
      return { type, rateLimit: parseRateLimit(w, field, value) };
    case 'ClientCertificate': {
      const v = record(w, field, value, ['required']);
      if (typeof v.required !== 'boolean') w.fail(at(field, 'required'), v.required, 'true (a verified client certificate is required) or false');
      return { type, clientCertificate: { required: v.required } };
    }
  }
}

/** A RateLimit filter's settings: `rate` required, the rest as RATE_LIMIT_BURST, _KEY, _MODE and _TABLE_SIZE default. */
function parseRateLimit(w: Where, field: string, value: unknown): RateLimitSpec {
  const v = record(w, field, value, ['rate', 'burst', 'key', 'mode', 'tableSize']);
  if (v.rate === undefined) w.missing(at(field, 'rate'), 'a rate such as 100/s, 6000/m or 50000/h');
  const rate = rateOf(w, at(field, 'rate'), v.rate);
  const keyText = v.key === undefined ? 'ip' : v.key;
  const key = typeof keyText === 'string' ? parseRateLimitKey(keyText.trim()) : undefined;
  if (key === undefined) w.fail(at(field, 'key'), keyText, 'ip, route, header:<name>, cookie:<name>, tlv:<type> or jwt:<claim>');
  return {
    rate,
    burst: integer(w, at(field, 'burst'), v.burst, 1, 1_000_000_000, defaultBurst(rate)),
    key: key!,
    mode: oneOf(w, at(field, 'mode'), v.mode, RATE_LIMIT_MODES, 'enforce'),
    tableSize: integer(w, at(field, 'tableSize'), v.tableSize, 1, 10_000_000, 100_000),
  };
}

function rateOf(w: Where, field: string, value: unknown): Rate {
  try {
    return parseRate(value);
  } catch (err) {
    if (!(err instanceof InvalidValue)) throw err;
    return w.fail(field, value, err.expected);
  }
}

/** A list of CIDRs (10.0.0.0/8, fd00::/8, a bare address). */
function cidrList(w: Where, field: string, value: unknown): string[] {
  return list(w, field, value, 'networks in CIDR notation').map((item, i) => {
    const f = `${field}[${i}]`;
    const cidr = text(w, f, item, CIDR_EXPECTED);
    if (parseCidr(cidr) === undefined) w.fail(f, item, CIDR_EXPECTED);
    return cidr;
  });
}

/**
 * A route's Compression: `off`, or `{ encodings, types, minSize, levels }`; what it leaves out
 * takes the built-in defaults (COMPRESSION_TYPES', COMPRESSION_MIN_SIZE's, COMPRESSION_LEVEL's),
 * and `encodings` defaults to br,gzip.
 */
function parseCompression(w: Where, field: string, value: unknown): CompressionSettings {
  if (value === 'off' || value === false) return { encodings: [], types: DEFAULT_TYPES, minSize: DEFAULT_MIN_SIZE, levels: DEFAULT_LEVELS };
  const v = record(w, field, value, ['encodings', 'types', 'minSize', 'levels']);
  const parsed = <T>(key: string, raw: unknown, parse: (value: unknown, text: boolean) => T, fallback: T): T => {
    if (raw === undefined) return fallback;
    try {
      return parse(raw, false);
    } catch (err) {
      if (err instanceof InvalidValue) w.fail(at(field, key), raw, err.expected);
      throw err;
    }
  };
  return {
    encodings: parsed('encodings', v.encodings, encodings, ['br', 'gzip']),
    types: parsed('types', v.types, mediaTypes, DEFAULT_TYPES),
    minSize: v.minSize === undefined ? DEFAULT_MIN_SIZE : integer(w, at(field, 'minSize'), v.minSize, 0, Number.MAX_SAFE_INTEGER, undefined),
    levels: parsed('levels', v.levels, levels, DEFAULT_LEVELS),
  };
}

function parseHeaderModifier(w: Where, field: string, value: unknown): HeaderModifierSpec {
  const v = record(w, field, value, ['set', 'add', 'remove']);
  const remove: string[] = [];
  for (const [i, name] of list(w, at(field, 'remove'), v.remove, 'header names').entries()) {
    const f = `${at(field, 'remove')}[${i}]`;
    const checked = token(w, f, name);
    if (remove.some((n) => n.toLowerCase() === checked.toLowerCase())) w.fail(f, name, 'each header name once (case-insensitive)');
    remove.push(checked);
  }
  return { set: parsePairs(w, at(field, 'set'), v.set), add: parsePairs(w, at(field, 'add'), v.add), remove };
}

/** `{ name, value }` header pairs, each name once (case-insensitive). */
function parsePairs(w: Where, field: string, value: unknown): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (const [i, item] of list(w, field, value, 'headers ({ name, value })').entries()) {
    const f = `${field}[${i}]`;
    const p = record(w, f, item, ['name', 'value']);
    const name = token(w, at(f, 'name'), p.name);
    if (out.some((o) => o.name.toLowerCase() === name.toLowerCase())) w.fail(at(f, 'name'), name, 'each header name once (case-insensitive)');
    out.push({ name, value: headerValue(w, at(f, 'value'), p.value, true) });
  }
  return out;
}

function optionalHostname(w: Where, field: string, value: unknown): { hostname?: string } {
  return value === undefined ? {} : { hostname: dnsName(w, at(field, 'hostname'), value) };
}

function optionalPath(w: Where, field: string, value: unknown): { path?: PathModifier } {
  if (value === undefined) return {};
  const f = at(field, 'path');
  const type = oneOf(w, at(f, 'type'), (value as { type?: unknown } | null)?.type, PATH_MODIFIERS, undefined);
  const key = type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
  const v = record(w, f, value, ['type', key]);
  const path = text(w, at(f, key), v[key], PATH_EXPECTED);
  if (!path.startsWith('/') || /[\s#?]/.test(path)) w.fail(at(f, key), path, `${PATH_EXPECTED}, without spaces, ? or #`);
  return { path: type === 'ReplaceFullPath' ? { type, replaceFullPath: path } : { type, replacePrefixMatch: path } };
}

function pathModifierOf(f: FilterSpec): PathModifier | undefined {
  if (f.type === 'URLRewrite') return f.urlRewrite.path;
  if (f.type === 'RequestRedirect') return f.requestRedirect.path;
  return undefined;
}
