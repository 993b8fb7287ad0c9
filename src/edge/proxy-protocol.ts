/**
 * The PROXY protocol header (HAProxy's spec, versions 1 and 2) that an L4 proxy sends before the
 * client's bytes to tell the client's address. Parsed from a connection's first bytes, once.
 * https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt
 */

export const PROXY_PROTOCOL_MODES = ['off', 'v1', 'v2', 'auto'] as const;
export type ProxyProtocolMode = (typeof PROXY_PROTOCOL_MODES)[number];
/** What a pool sends its backends before each new connection's first byte (`proxyProtocol:`, BACKEND_PROXY_PROTOCOL). */
export const SEND_PROXY_MODES = ['off', 'v1', 'v2'] as const;
export type SendProxyMode = (typeof SEND_PROXY_MODES)[number];

/** Version 2's signature (section 2.2). */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** Version 1's longest header, CRLF included (section 2.1). */
export const V1_MAX = 107;
const V2_HEADER = 16;

/** What a connection's PROXY header said. */
export interface ProxyHeader {
  /** Bytes of the header: what follows is the client's. */
  readonly length: number;
  /** 1 or 2. */
  readonly version: number;
  /** The client's address and port; undefined for v1 UNKNOWN, v2 LOCAL, or a family without one (UNIX, UNSPEC). */
  readonly source: string | undefined;
  readonly sourcePort: number;
  readonly destination: string | undefined;
  readonly destinationPort: number;
  /** v2's type-length-value records after the addresses (ALPN, authority, SSL, …), raw; undefined when there are none. */
  readonly tlvs: Buffer | undefined;
}

/** A parse: the header, `more` (a prefix of one: read on), or `invalid` with why. */
export type ProxyParse = ProxyHeader | 'more' | { readonly invalid: string };

/** Whether `bytes` (a connection's first) open with a PROXY header of either version, `more` when they might. */
export function looksLikeProxyHeader(bytes: Buffer): boolean | 'more' {
  for (const signature of [V1_PREFIX, V2_SIGNATURE]) {
    const n = Math.min(bytes.length, signature.length);
    if (bytes.compare(signature, 0, n, 0, n) === 0) return n === signature.length ? true : 'more';
  }
  return false;
}

/** Parses the PROXY header at the start of `bytes`, of the versions `mode` accepts. */
export function parseProxyHeader(bytes: Buffer, mode: Exclude<ProxyProtocolMode, 'off'>): ProxyParse {
  const opening = looksLikeProxyHeader(bytes);
  if (opening === 'more') return 'more';
  if (opening === false) return { invalid: 'no PROXY protocol header' };
  const v2 = bytes[0] === 0x0d;
  if (v2 ? mode === 'v1' : mode === 'v2') return { invalid: `a version ${v2 ? 2 : 1} header where version ${v2 ? 1 : 2} is expected` };
  return v2 ? parseV2(bytes) : parseV1(bytes);
}

function parseV1(bytes: Buffer): ProxyParse {
  const end = bytes.indexOf('\r\n', 0, 'latin1');
  if (end < 0) return bytes.length >= V1_MAX ? { invalid: 'a version 1 header longer than 107 bytes' } : 'more';
  if (end + 2 > V1_MAX) return { invalid: 'a version 1 header longer than 107 bytes' };
  const line = bytes.toString('latin1', 0, end);
  const parts = line.split(' ');
  const length = end + 2;
  // "PROXY UNKNOWN" and anything after it: the receiver must ignore the rest (section 2.1).
  if (parts[1] === 'UNKNOWN') return { length, version: 1, source: undefined, sourcePort: 0, destination: undefined, destinationPort: 0, tlvs: undefined };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) return { invalid: 'a version 1 header that is not PROXY TCP4|TCP6|UNKNOWN src dst sport dport' };
  const [, family, source, destination, sport, dport] = parts as [string, string, string, string, string, string];
  const v4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
  const v6 = /^[0-9A-Fa-f:.]{2,45}$/;
  const addressOk = (a: string): boolean => (family === 'TCP4' ? v4.test(a) : v6.test(a) && a.includes(':'));
  const portOk = (p: string): boolean => /^(0|[1-9]\d{0,4})$/.test(p) && Number(p) <= 65535;
  if (!addressOk(source) || !addressOk(destination) || !portOk(sport) || !portOk(dport)) return { invalid: 'a version 1 header with a malformed address or port' };
  return { length, version: 1, source: family === 'TCP6' ? source.toLowerCase() : source, sourcePort: Number(sport), destination, destinationPort: Number(dport), tlvs: undefined };
}

function parseV2(bytes: Buffer): ProxyParse {
  if (bytes.length < V2_HEADER) return 'more';
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) return { invalid: `a version 2 signature with version ${versionCommand >> 4}` };
  const command = versionCommand & 0x0f;
  if (command > 1) return { invalid: `a version 2 header with the unknown command ${command}` };
  const family = bytes[13]!;
  const size = bytes.readUInt16BE(14);
  const length = V2_HEADER + size;
  if (bytes.length < length) return 'more';
  const none: ProxyHeader = { length, version: 2, source: undefined, sourcePort: 0, destination: undefined, destinationPort: 0, tlvs: undefined };
  // LOCAL: the proxy's own connection (a health check): the peer is the client (section 2.2).
  if (command === 0) return none;
  let addresses: number;
  let source: string | undefined;
  let destination: string | undefined;
  switch (family >> 4) {
    case 0: return none; // AF_UNSPEC
    case 1: // AF_INET
      addresses = 12;
      if (size < addresses) return { invalid: 'a version 2 header too short for its IPv4 addresses' };
      source = `${bytes[16]}.${bytes[17]}.${bytes[18]}.${bytes[19]}`;
      destination = `${bytes[20]}.${bytes[21]}.${bytes[22]}.${bytes[23]}`;
      break;
    case 2: // AF_INET6
      addresses = 36;
      if (size < addresses) return { invalid: 'a version 2 header too short for its IPv6 addresses' };
      source = ipv6(bytes, 16);
      destination = ipv6(bytes, 32);
      break;
    case 3: // AF_UNIX: no address to tell
      addresses = 216;
      if (size < addresses) return { invalid: 'a version 2 header too short for its UNIX addresses' };
      return { ...none, tlvs: size > addresses ? Buffer.from(bytes.subarray(V2_HEADER + addresses, length)) : undefined };
    default:
      return { invalid: `a version 2 header with the unknown address family ${family >> 4}` };
  }
  const ports = V2_HEADER + addresses - 4;
  const tlvs = size > addresses ? Buffer.from(bytes.subarray(V2_HEADER + addresses, length)) : undefined;
  if (tlvs !== undefined && !wellFormedTlvs(tlvs)) return { invalid: 'a version 2 header whose TLVs overrun it' };
  return { length, version: 2, source, sourcePort: bytes.readUInt16BE(ports), destination, destinationPort: bytes.readUInt16BE(ports + 2), tlvs };
}

/** An IPv6 address's 16 bytes at `at`, as text (groups in hex; `::` for the longest run of zeros; IPv4-mapped as IPv4). */
function ipv6(bytes: Buffer, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(bytes.readUInt16BE(at + 2 * i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `${bytes[at + 12]}.${bytes[at + 13]}.${bytes[at + 14]}.${bytes[at + 15]}`;
  let best = -1, bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength && j - i > 1) { best = i; bestLength = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`;
}

/** Whether TLV records (type 1 byte, length 2 bytes, value) fill `tlvs` exactly. */
function wellFormedTlvs(tlvs: Buffer): boolean {
  let at = 0;
  while (at + 3 <= tlvs.length) at += 3 + tlvs.readUInt16BE(at + 1);
  return at === tlvs.length;
}

/** The value of TLV `type` (e.g. 0x01 ALPN, 0x02 authority, 0x05 unique id), or undefined. */
export function tlvValue(tlvs: Buffer | undefined, type: number): Buffer | undefined {
  if (tlvs === undefined) return undefined;
  for (let at = 0; at + 3 <= tlvs.length; at += 3 + tlvs.readUInt16BE(at + 1)) {
    if (tlvs[at] === type) return tlvs.subarray(at + 3, at + 3 + tlvs.readUInt16BE(at + 1));
  }
  return undefined;
}
