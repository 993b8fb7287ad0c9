import type { ClientRequest } from '../context/index.js';
import { isHeader } from '../proxy/headers.js';

/** `http://` or `https://`, any case (RFC 9110 §4.2.3: schemes are case-insensitive). */
const ABSOLUTE = /^https?:\/\//i;
/** reg-name or IPv4 (RFC 3986 §3.2.2) or an IP literal, then an optional port; no userinfo. */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d{0,5})?$/;

/**
 * Brings the request target (RFC 9112 §3.2) to origin-form in place, or says why it cannot be
 * forwarded (the listener answers 400). undici sends only origin-form paths, so nothing else
 * may ever reach a dispatch:
 * - origin-form (`/path?query`) is kept as it is;
 * - `*` is kept for OPTIONS (the balancer answers it) and refused otherwise;
 * - absolute-form (`http://host:port/path?query`) becomes origin-form, and the authority
 *   replaces every Host header, as RFC 9112 §3.2.2 requires of the server that receives it;
 * - anything else (authority-form outside CONNECT, other schemes, userinfo, an empty host) is refused.
 * Only a request that is not in origin-form pays for more than one character comparison.
 */
export function normalizeTarget(req: ClientRequest): string | undefined {
  const url = req.url ?? '';
  if (url.charCodeAt(0) === 47 /* / */) return undefined;
  if (url === '*') return req.method === 'OPTIONS' ? undefined : `the asterisk form "*" is only for OPTIONS, not ${req.method}`;
  const scheme = ABSOLUTE.exec(url);
  if (scheme === null) return `request target ${quote(url)} is not a path, "*" or an http(s) URL`;
  const rest = url.slice(scheme[0].length);
  let end = rest.length;
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) { end = i; break; }
  }
  const authority = rest.slice(0, end);
  if (authority === '') return `absolute request target ${quote(url)} has no host`;
  if (authority.includes('@')) return `absolute request target ${quote(url)} carries credentials`;
  if (!AUTHORITY.test(authority)) return `absolute request target ${quote(url)} has an invalid host`;
  let path = rest.slice(end);
  const hash = path.indexOf('#');
  if (hash >= 0) path = path.slice(0, hash);
  req.url = path.charCodeAt(0) === 47 ? path : `/${path}`;
  setHost(req, authority);
  return undefined;
}

/** Replaces the Host header (the listener has refused two), raw and parsed; adds one when there was none. */
function setHost(req: ClientRequest, host: string): void {
  const raw = req.rawHeaders;
  let i = 0;
  while (i < raw.length && !isHeader(raw[i]!, 'host')) i += 2;
  if (i < raw.length) raw[i + 1] = host;
  else raw.push('Host', host);
  req.headers.host = host;
}

function quote(url: string): string {
  return JSON.stringify(url.length > 64 ? `${url.slice(0, 64)}…` : url);
}
