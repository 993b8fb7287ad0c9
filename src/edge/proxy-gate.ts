import type { Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import { PROXY_SOURCE, PROXY_SOURCE_PORT, PROXY_TLVS } from '../context/request-context.js';
import type { CidrSet } from './cidr.js';
import { looksLikeProxyHeader, parseProxyHeader, type ProxyProtocolMode } from './proxy-protocol.js';

/** What a connection's first bytes come to: read on, close it, or the client's bytes after the header. */
export type GateStep = 'more' | 'refused' | Buffer;

/**
 * PROXY_PROTOCOL at a listener: read once, from a connection's first bytes, before any HTTP
 * parser sees them. A TRUSTED_PROXIES peer must open with a valid header of the versions
 * allowed; its source becomes the client address (kept on the socket, so every request of the
 * connection reads it), and its v2 TLVs are kept beside it. Any other peer that opens with a
 * PROXY header is refused: it would be claiming an address it may not claim. A header LOCAL or
 * UNKNOWN leaves the peer as the client (HAProxy's own health checks send LOCAL).
 */
export class ProxyGate {
  readonly #mode: Exclude<ProxyProtocolMode, 'off'>;
  readonly #trusted: CidrSet;
  readonly #log: Logger;

  constructor(mode: Exclude<ProxyProtocolMode, 'off'>, trusted: CidrSet, log: Logger) {
    this.#mode = mode;
    this.#trusted = trusted;
    this.#log = log;
  }

  /** What `bytes`, everything `socket` has sent so far, come to. */
  step(socket: Socket, bytes: Buffer): GateStep {
    const peer = socket.remoteAddress ?? '';
    if (!this.#trusted.has(peer)) {
      const looks = looksLikeProxyHeader(bytes);
      if (looks === 'more') return 'more';
      if (!looks) return bytes;
      this.#log.info({ client: peer }, 'connection closed: a PROXY protocol header from a peer not in TRUSTED_PROXIES');
      return 'refused';
    }
    const parsed = parseProxyHeader(bytes, this.#mode);
    if (parsed === 'more') return 'more';
    if ('invalid' in parsed) {
      this.#log.info({ client: peer, reason: parsed.invalid }, 'connection closed: no valid PROXY protocol header from a trusted proxy');
      return 'refused';
    }
    const slots = socket as unknown as Record<symbol, unknown>;
    if (parsed.source !== undefined) {
      slots[PROXY_SOURCE] = parsed.source;
      slots[PROXY_SOURCE_PORT] = parsed.sourcePort;
    }
    if (parsed.tlvs !== undefined) slots[PROXY_TLVS] = parsed.tlvs;
    return bytes.subarray(parsed.length);
  }

  /** A connection that sent no complete header within the header timeout. */
  stalled(socket: Socket): void {
    this.#log.info({ client: socket.remoteAddress }, 'connection closed: no PROXY protocol header within HEADER_TIMEOUT');
    socket.destroy();
  }
}

/**
 * Reads `socket`'s PROXY header through 'data' events, then hands over what follows it
 * (possibly nothing), with the socket paused. The fast engine's connections start here.
 */
export function readProxyHeader(socket: Socket, gate: ProxyGate, headerTimeout: number, done: (rest: Buffer) => void): void {
  let seen: Buffer | undefined;
  const onError = (): void => { socket.destroy(); };
  const finish = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
  };
  const onData = (chunk: Buffer): void => {
    const bytes = seen === undefined ? chunk : Buffer.concat([seen, chunk]);
    const step = gate.step(socket, bytes);
    if (step === 'more') { seen = bytes; return; }
    finish();
    if (step === 'refused') { socket.destroy(); return; }
    socket.pause();
    done(step);
  };
  const timer = headerTimeout > 0 ? setTimeout(() => { finish(); if (!socket.destroyed) gate.stalled(socket); }, headerTimeout).unref() : undefined;
  socket.on('error', onError);
  socket.on('data', onData);
}

/**
 * For the TLS listener: each connection's PROXY header is read before the TLS server wraps the
 * socket (the header comes before the ClientHello); what follows it is put back, which the TLS
 * socket reads first. The secure socket then carries the header's source, as a plain one does.
 */
export function readProxyHeaderBeforeTls(server: Server, gate: ProxyGate, headerTimeout: number): void {
  const tls = server.listeners('connection') as ((this: Server, socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    readProxyHeader(socket, gate, headerTimeout, (rest) => {
      if (rest.length > 0) socket.unshift(rest);
      for (const listener of tls) listener.call(server, socket);
    });
  });
  server.on('secureConnection', (secure: Socket & { _parent?: Socket }) => {
    const from = secure._parent as unknown as Record<symbol, unknown> | undefined;
    if (from === undefined) return;
    const to = secure as unknown as Record<symbol, unknown>;
    if (from[PROXY_SOURCE] !== undefined) to[PROXY_SOURCE] = from[PROXY_SOURCE];
    if (from[PROXY_SOURCE_PORT] !== undefined) to[PROXY_SOURCE_PORT] = from[PROXY_SOURCE_PORT];
    if (from[PROXY_TLVS] !== undefined) to[PROXY_TLVS] = from[PROXY_TLVS];
  });
}
