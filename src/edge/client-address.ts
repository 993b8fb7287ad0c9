import type { IncomingHttpHeaders } from 'node:http';
import type { CidrSet } from './cidr.js';
import { isMappedIpv4, parseIp } from './ip.js';

const WORDS = new Uint32Array(4);

/**
 * The client's address as a trusted proxy (the connection's peer, `peer`, in `trusted`) tells it:
 * `X-Forwarded-For` read right to left, each hop in `trusted` skipped, the first address that is
 * not is the client (nginx's `real_ip_recursive on`, Traefik's and Caddy's trusted proxies).
 * Without `X-Forwarded-For`, the `for=` of `Forwarded` (RFC 7239), the same way. Every hop
 * trusted: the leftmost address. An entry that is not an address (`unknown`, `_hidden`, garbage)
 * ends the walk: the client is the last address believed, the hop to its right.
 */
export function forwardedClient(peer: string, headers: IncomingHttpHeaders, trusted: CidrSet): string {
  const xff = headers['x-forwarded-for'];
  if (xff !== undefined) return walk(typeof xff === 'string' ? xff : xff.join(', '), peer, trusted, false);
  const forwarded = headers.forwarded;
  if (forwarded !== undefined) return walk(forwarded, peer, trusted, true);
  return peer;
}

/** Walks a comma-separated list from the right. `forwarded`: each element is RFC 7239's, its `for=` read. */
function walk(list: string, peer: string, trusted: CidrSet, forwarded: boolean): string {
  let client = peer;
  let end = list.length;
  // Bounded by the header's length: every turn moves `end` left.
  while (end > 0) {
    const comma = list.lastIndexOf(',', end - 1);
    const address = forwarded ? forParameter(list, comma + 1, end) : entry(list, comma + 1, end);
    if (address === undefined) return client;
    client = address;
    if (trusted.findWords(WORDS) < 0) return client;
    if (comma < 0) break;
    end = comma;
  }
  return client;
}

/**
 * One address of `text[start, end)`: spaces trimmed, an IPv6 address's brackets and a port
 * dropped, an IPv4-mapped address unwrapped (as a socket's peer is). Parsed into WORDS.
 */
function entry(text: string, start: number, end: number): string | undefined {
  while (start < end && (text.charCodeAt(start) === 32 || text.charCodeAt(start) === 9)) start++;
  while (end > start && (text.charCodeAt(end - 1) === 32 || text.charCodeAt(end - 1) === 9)) end--;
  if (start < end && text.charCodeAt(start) === 34 /* " */) {
    if (end - start < 2 || text.charCodeAt(end - 1) !== 34) return undefined;
    start++;
    end--;
  }
  if (text.charCodeAt(start) === 91 /* [ */) {
    const close = text.indexOf(']', start);
    if (close < 0 || close >= end) return undefined;
    start++;
    end = close;
  } else {
    // 192.0.2.1:8080: one colon is a port; IPv6 has at least two.
    const colon = text.indexOf(':', start);
    if (colon >= 0 && colon < end) {
      const second = text.indexOf(':', colon + 1);
      if (second < 0 || second >= end) end = colon;
    }
  }
  if (!parseIp(text, start, end, WORDS)) return undefined;
  if (isMappedIpv4(WORDS)) {
    const v4 = WORDS[3]!;
    return text.indexOf(':', start) < 0 || text.indexOf(':', start) >= end ? text.slice(start, end)
      : `${v4 >>> 24}.${(v4 >>> 16) & 255}.${(v4 >>> 8) & 255}.${v4 & 255}`;
  }
  return text.slice(start, end).toLowerCase();
}

/** The `for=` address of one Forwarded element (`for=192.0.2.1;proto=https`), or undefined. */
function forParameter(text: string, start: number, end: number): string | undefined {
  let i = start;
  while (i < end) {
    let semi = text.indexOf(';', i);
    if (semi < 0 || semi > end) semi = end;
    while (i < semi && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
    if (semi - i > 4 && (text.charCodeAt(i) | 0x20) === 102 && (text.charCodeAt(i + 1) | 0x20) === 111
      && (text.charCodeAt(i + 2) | 0x20) === 114 && text.charCodeAt(i + 3) === 61 /* for= */) {
      return entry(text, i + 4, semi);
    }
    i = semi + 1;
  }
  return undefined;
}
