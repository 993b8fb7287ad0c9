import { isAbsolute, resolve } from 'node:path';
import { parseDuration } from '../../config/duration.js';
import { at, headerValue, list, record, text, token, type Where } from '../spec-fields.js';
import type { BasicAuthSpec, ForwardAuthSpec, JwtSpec, StaticKey } from './auth-spec.js';
import { readHtpasswd } from './htpasswd.js';

const DURATION = 'a duration (250ms, 5s, 1m) or a number of milliseconds';
const BOOLEAN = 'true or false';
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'HS256', 'HS384', 'HS512'];

/** `basicAuth: { htpasswd, realm, keepAuthorization }`: the file is read now, at each load and reload. */
export function parseBasicAuth(w: Where, field: string, value: unknown, dir: string): BasicAuthSpec {
  const v = record(w, field, value, ['htpasswd', 'realm', 'keepAuthorization']);
  const given = text(w, at(field, 'htpasswd'), v.htpasswd, 'the path of an htpasswd file of bcrypt hashes');
  const htpasswd = isAbsolute(given) ? given : resolve(dir, given);
  const realm = v.realm === undefined ? 'restricted' : headerValue(w, at(field, 'realm'), v.realm, false);
  if (realm.includes('"') || realm.includes('\\')) w.fail(at(field, 'realm'), realm, 'a realm without " or \\');
  const users = readHtpasswd(htpasswd, `invalid route ${w.route} ${at(field, 'htpasswd')}`);
  return { htpasswd, realm, users, keepAuthorization: flag(w, at(field, 'keepAuthorization'), v.keepAuthorization) };
}

/** `forwardAuth: { address, authRequestHeaders, authResponseHeaders, timeout, cacheTtl, keepAuthorization }`. */
export function parseForwardAuth(w: Where, field: string, value: unknown): ForwardAuthSpec {
  const v = record(w, field, value, ['address', 'authRequestHeaders', 'authResponseHeaders', 'timeout', 'cacheTtl', 'keepAuthorization']);
  const address = httpUrl(w, at(field, 'address'), v.address);
  return {
    address,
    authRequestHeaders: names(w, at(field, 'authRequestHeaders'), v.authRequestHeaders).map((n) => n.toLowerCase()),
    authResponseHeaders: names(w, at(field, 'authResponseHeaders'), v.authResponseHeaders),
    timeout: duration(w, at(field, 'timeout'), v.timeout, 5000, 1),
    cacheTtl: duration(w, at(field, 'cacheTtl'), v.cacheTtl, 0, 0),
    keepAuthorization: flag(w, at(field, 'keepAuthorization'), v.keepAuthorization),
  };
}

/** `jwt: { jwksUrl | keys, issuer, audience, algorithms, clockSkew, claimsToHeaders, keepAuthorization }`. */
export function parseJwt(w: Where, field: string, value: unknown): JwtSpec {
  const v = record(w, field, value, ['jwksUrl', 'jwksCooldown', 'keys', 'issuer', 'audience', 'algorithms', 'clockSkew', 'claimsToHeaders', 'keepAuthorization']);
  const jwksUrl = v.jwksUrl === undefined ? undefined : httpUrl(w, at(field, 'jwksUrl'), v.jwksUrl);
  const keys = list(w, at(field, 'keys'), v.keys, 'keys ({ pem, alg } or { jwk })').map((k, i) => staticKey(w, `${at(field, 'keys')}[${i}]`, k));
  if ((jwksUrl === undefined) === (keys.length === 0)) w.missing(at(field, 'jwksUrl'), 'either a jwksUrl or keys (not both)');
  const algorithms = list(w, at(field, 'algorithms'), v.algorithms, 'algorithms').map((a, i) => {
    const f = `${at(field, 'algorithms')}[${i}]`;
    if (typeof a !== 'string' || !ALGORITHMS.includes(a)) w.fail(f, a, `one of ${ALGORITHMS.join(', ')}`);
    return a;
  });
  const claims = v.claimsToHeaders ?? {};
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) w.fail(at(field, 'claimsToHeaders'), claims, 'an object of claim: header name');
  return {
    jwksUrl,
    jwksCooldown: duration(w, at(field, 'jwksCooldown'), v.jwksCooldown, 30_000, 0),
    keys,
    issuer: v.issuer === undefined ? undefined : text(w, at(field, 'issuer'), v.issuer, 'the expected issuer (iss)'),
    audience: v.audience === undefined ? undefined : text(w, at(field, 'audience'), v.audience, 'the expected audience (aud)'),
    algorithms,
    clockSkew: duration(w, at(field, 'clockSkew'), v.clockSkew, 30_000, 0) / 1000,
    claimsToHeaders: Object.entries(claims).map(([claim, header]) => ({ claim, header: token(w, at(at(field, 'claimsToHeaders'), claim), header) })),
    keepAuthorization: flag(w, at(field, 'keepAuthorization'), v.keepAuthorization),
  };
}

function staticKey(w: Where, field: string, value: unknown): StaticKey {
  const k = record(w, field, value, ['pem', 'alg', 'jwk']);
  if (k.jwk !== undefined) {
    if (k.pem !== undefined) w.fail(field, value, 'either pem (with alg) or jwk');
    if (typeof k.jwk !== 'object' || k.jwk === null || typeof (k.jwk as { kty?: unknown }).kty !== 'string') w.fail(at(field, 'jwk'), k.jwk, 'a JWK object (with kty)');
    return { jwk: k.jwk as Record<string, unknown> };
  }
  const pem = text(w, at(field, 'pem'), k.pem, 'a PEM public key (-----BEGIN PUBLIC KEY-----) or certificate');
  if (!pem.includes('-----BEGIN PUBLIC KEY-----') && !pem.includes('-----BEGIN CERTIFICATE-----')) w.fail(at(field, 'pem'), `${pem.slice(0, 30)}…`, 'a PEM public key (-----BEGIN PUBLIC KEY-----) or certificate');
  const alg = k.alg;
  if (typeof alg !== 'string' || !ALGORITHMS.includes(alg) || alg.startsWith('HS')) w.fail(at(field, 'alg'), alg, `the key's algorithm, one of ${ALGORITHMS.filter((a) => !a.startsWith('HS')).join(', ')}`);
  return { pem, alg };
}

function httpUrl(w: Where, field: string, value: unknown): string {
  const expected = 'an http:// or https:// URL';
  const s = text(w, field, value, expected);
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    w.fail(field, s, expected);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') w.fail(field, s, expected);
  return url.href;
}

function names(w: Where, field: string, value: unknown): string[] {
  const out: string[] = [];
  for (const [i, item] of list(w, field, value, 'header names').entries()) {
    const name = token(w, `${field}[${i}]`, item);
    if (out.some((n) => n.toLowerCase() === name.toLowerCase())) w.fail(`${field}[${i}]`, name, 'each header name once (case-insensitive)');
    out.push(name);
  }
  return out;
}

function duration(w: Where, field: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined || value === null) return fallback;
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined || !Number.isFinite(ms) || ms < min || ms > 86_400_000) w.fail(field, value, `${DURATION}, at least ${min}ms and at most 24h`);
  return ms;
}

function flag(w: Where, field: string, value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') w.fail(field, value, BOOLEAN);
  return value;
}
