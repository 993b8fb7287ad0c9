import { connect as netConnect, type Socket } from 'node:net';
import type { buildConnector } from 'undici';
import { PROXY_SOURCE, PROXY_SOURCE_PORT } from '../context/request-context.js';
import { isMappedIpv4, parseIp } from './ip.js';
import { V2_SIGNATURE, type SendProxyMode } from './proxy-protocol.js';

/**
 * The PROXY header a new backend connection opens with, and the key its reuse is bound to: a
 * kept-alive connection told the backend one client's address, so only a request whose header
 * would be the same bytes may take it again (HAProxy and Envoy key connection reuse by source too).
 */
export interface OutgoingProxyHeader {
  readonly bytes: Buffer;
  /** The bytes as latin1 text: compared by the idle lists, no Buffer comparison per candidate. */
  readonly key: string;
}

const SOURCE = new Uint32Array(4);
const DESTINATION = new Uint32Array(4);
const V1_UNKNOWN = Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
/** Version 2, command LOCAL, family UNSPEC, no addresses: "use the connection's own endpoints". */
const V2_LOCAL = Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);

/**
 * A PROXY header (HAProxy's spec, section 2.1 for v1, 2.2 for v2) telling `source:sourcePort`
 * as the client and `destination:destinationPort` as the address it reached. Two IPv4 addresses
 * give TCP4 / AF_INET; anything else with IPv6 gives TCP6 / AF_INET6, an IPv4 one mapped
 * (`::ffff:a.b.c.d`), since both addresses of a header are of one family. An address that is not
 * one (a UNIX socket's peer) gives v1 UNKNOWN or v2 LOCAL: the receiver uses the connection's.
 */
export function encodeProxyHeader(version: 1 | 2, source: string, sourcePort: number, destination: string, destinationPort: number): Buffer {
  if (!parseIp(source, 0, source.length, SOURCE) || !parseIp(destination, 0, destination.length, DESTINATION)) return version === 1 ? V1_UNKNOWN : V2_LOCAL;
  const four = isMappedIpv4(SOURCE) && isMappedIpv4(DESTINATION);
  if (version === 1) {
    const family = four ? 'TCP4' : 'TCP6';
    const text = four ? (w: Uint32Array) => ipv4Text(w[3]!) : ipv6Text;
    return Buffer.from(`PROXY ${family} ${text(SOURCE)} ${text(DESTINATION)} ${sourcePort} ${destinationPort}\r\n`, 'latin1');
  }
  const size = four ? 12 : 36;
  const header = Buffer.alloc(16 + size);
  V2_SIGNATURE.copy(header, 0);
  header[12] = 0x21; // version 2, PROXY
  header[13] = four ? 0x11 : 0x21; // AF_INET or AF_INET6, STREAM
  header.writeUInt16BE(size, 14);
  if (four) {
    header.writeUInt32BE(SOURCE[3]!, 16);
    header.writeUInt32BE(DESTINATION[3]!, 20);
  } else {
    for (let w = 0; w < 4; w++) {
      header.writeUInt32BE(SOURCE[w]!, 16 + 4 * w);
      header.writeUInt32BE(DESTINATION[w]!, 32 + 4 * w);
    }
  }
  header.writeUInt16BE(sourcePort, 16 + size - 4);
  header.writeUInt16BE(destinationPort, 16 + size - 2);
  return header;
}

/** The header a health check opens with: v2 LOCAL or v1 UNKNOWN (HAProxy's `check-send-proxy`): no client behind it. */
export function localProxyHeader(mode: SendProxyMode): Buffer | undefined {
  return mode === 'v1' ? V1_UNKNOWN : mode === 'v2' ? V2_LOCAL : undefined;
}

function ipv4Text(v4: number): string {
  return `${v4 >>> 24}.${(v4 >>> 16) & 255}.${(v4 >>> 8) & 255}.${v4 & 255}`;
}

/** RFC 5952 text: groups in hex, the longest run of two or more zero groups as `::`; IPv4-mapped as `::ffff:a.b.c.d`. */
function ipv6Text(words: Uint32Array): string {
  if (isMappedIpv4(words)) return `::ffff:${ipv4Text(words[3]!)}`;
  const groups: number[] = [];
  for (let w = 0; w < 4; w++) groups.push(words[w]! >>> 16, words[w]! & 0xffff);
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) { best = i; bestLength = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`;
}

/** On a client socket: the header last made for it (each request of a kept-alive connection usually has the same client). */
const SENT = Symbol('PROXY protocol header sent on');

interface SentSlot {
  readonly client: string;
  readonly version: number;
  readonly header: OutgoingProxyHeader;
}

/**
 * The header for a request of client `client` (the real client address: the PROXY source or
 * X-Forwarded-For's, once TRUSTED_PROXIES had its say) that arrived on `socket` (our listener's
 * side is the destination). The client's port is the socket's peer port when the client is its
 * peer, the received PROXY header's when it came by one, else 0 (an address from
 * X-Forwarded-For has no port). Made once per client connection and client, then reused.
 */
export function outgoingProxyHeader(socket: Socket, client: string, version: 1 | 2): OutgoingProxyHeader {
  const slots = socket as unknown as Record<symbol, unknown>;
  const sent = slots[SENT] as SentSlot | undefined;
  if (sent !== undefined && sent.client === client && sent.version === version) return sent.header;
  const proxied = slots[PROXY_SOURCE] as string | undefined;
  let port = 0;
  if (proxied !== undefined) {
    if (proxied === client) port = (slots[PROXY_SOURCE_PORT] as number | undefined) ?? 0;
  } else {
    const peer = socket.remoteAddress ?? '';
    if (peer === client || (peer.startsWith('::ffff:') && peer.slice(7) === client)) port = socket.remotePort ?? 0;
  }
  const bytes = encodeProxyHeader(version, client, port, socket.localAddress ?? '', socket.localPort ?? 0);
  const header = { bytes, key: bytes.toString('latin1') };
  slots[SENT] = { client, version, header } satisfies SentSlot;
  return header;
}

/**
 * An undici connector that writes `header` on each connection it opens before anything else: on
 * a plain connection once it has connected (undici writes the request after), on a TLS one
 * before the handshake (the header precedes the ClientHello, as HAProxy's `send-proxy` with `ssl`).
 */
export function connectorWithHeader(base: buildConnector.connector, header: Buffer): buildConnector.connector {
  return (options, callback) => {
    let answered = false;
    const answer = (err: Error | null, socket: Socket | null): void => {
      if (answered) return;
      answered = true;
      (callback as (...args: unknown[]) => void)(err, socket);
    };
    if (options.protocol === 'https:') {
      const raw: Socket = netConnect({ host: options.hostname, port: Number(options.port) || 443 });
      raw.setNoDelay(true);
      // Queued until connected: the first bytes, before the TLS socket's.
      raw.write(header);
      raw.once('error', (err) => answer(err, null));
      base({ ...options, httpSocket: raw }, (err, socket) => {
        if (err !== null) raw.destroy();
        answer(err, socket);
      });
      return;
    }
    base(options, (err, socket) => {
      if (err === null) socket?.write(header);
      answer(err, socket);
    });
  };
}
