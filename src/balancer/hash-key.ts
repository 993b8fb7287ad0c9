import { hash32 } from './hash.js';
import type { PickRequest } from './strategy.js';
import { CLAIM_NAME, claimText, parseTlvKey, tlvText, type TlvKey } from '../edge/request-keys.js';

/** A parsed hash-key source. */
export interface KeySource {
  readonly kind: 'ip' | 'path' | 'header' | 'cookie' | 'tlv' | 'jwt';
  /** Lowercased header name, cookie name, TLV (`authority`, `0xe0`) or claim name. */
  readonly name: string;
  /** For `tlv:`: which TLV and how its value reads. */
  readonly tlv?: TlvKey;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Parses `ip`, `path`, `header:<name>`, `cookie:<name>`, `tlv:<type or name>` (the connection's
 * PROXY protocol v2 TLV) or `jwt:<claim>` (the route's JWT filter's verified token); undefined
 * when invalid.
 */
export function parseKeySource(text: string): KeySource | undefined {
  if (text === 'ip' || text === 'path') return { kind: text, name: '' };
  const colon = text.indexOf(':');
  const kind = text.slice(0, colon);
  const name = text.slice(colon + 1);
  if (kind === 'tlv') {
    const tlv = parseTlvKey(name);
    return tlv === undefined ? undefined : { kind, name: tlv.name, tlv };
  }
  if (kind === 'jwt') return CLAIM_NAME.test(name) ? { kind, name } : undefined;
  if ((kind === 'header' || kind === 'cookie') && TOKEN.test(name)) {
    return { kind, name: kind === 'header' ? name.toLowerCase() : name };
  }
  return undefined;
}

/**
 * The key hash over text[start, end), cut to 30 bits so it always stays a small integer
 * (larger numbers are boxed as heap numbers: an allocation per pick).
 */
function hashRange(text: string, start: number, end: number): number {
  return hash32(text, start, end) & 0x3fffffff;
}

/**
 * Where `name`'s value starts in a Cookie header (RFC 6265 section 5.4: pairs separated by
 * `; `), or -1. Matches whole names only (`sid` is not found in `xsid=1`). No allocation.
 */
export function cookieValueAt(header: string, name: string): number {
  let from = 0;
  for (;;) {
    const at = header.indexOf(name, from);
    if (at < 0) return -1;
    const eq = at + name.length;
    const boundary = at === 0 || header.charCodeAt(at - 1) === 32 /* space */ || header.charCodeAt(at - 1) === 59 /* ; */;
    if (boundary && header.charCodeAt(eq) === 61 /* = */) return eq + 1;
    from = at + 1;
  }
}

/** Hashes `name`'s value in a Cookie header in place; -1 when absent or empty. */
export function hashCookie(header: string, name: string): number {
  const start = cookieValueAt(header, name);
  if (start < 0) return -1;
  let end = header.indexOf(';', start);
  if (end < 0) end = header.length;
  return end > start ? hashRange(header, start, end) : -1;
}

/** The request's key hash (30 bits), or -1 when the request has no such key. Allocation-free. */
export function hashKey(source: KeySource, request: PickRequest): number {
  switch (source.kind) {
    case 'ip': {
      const ip = request.clientIp;
      return ip === '' ? -1 : hashRange(ip, 0, ip.length);
    }
    case 'path': {
      const path = request.path;
      const q = path.indexOf('?');
      return hashRange(path, 0, q < 0 ? path.length : q);
    }
    case 'header': {
      const value = request.headers[source.name];
      const text = typeof value === 'string' ? value : value?.[0];
      return text === undefined || text === '' ? -1 : hashRange(text, 0, text.length);
    }
    case 'cookie': {
      const cookie = request.headers.cookie;
      return cookie === undefined ? -1 : hashCookie(cookie, source.name);
    }
    // These make the value's text (a TLV read from the connection's header, a claim): only
    // requests of pools that hash on them pay it.
    case 'tlv': {
      const text = tlvText(request.proxyTlvs, source.tlv!);
      return text === undefined || text === '' ? -1 : hashRange(text, 0, text.length);
    }
    case 'jwt': {
      const text = claimText(request.jwtClaims, source.name);
      return text === undefined || text === '' ? -1 : hashRange(text, 0, text.length);
    }
  }
}
