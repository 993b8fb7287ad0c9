import type { Server, Socket } from 'node:net';
import type { ProxyGate } from '../edge/proxy-gate.js';

/** The client connection preface of HTTP/2 (RFC 9113 §3.4): how a client with prior knowledge opens h2c. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** What a connection's first bytes say it speaks: HTTP/2 (the whole preface), HTTP/1.x, or not yet known (a prefix of the preface). */
export type Opening = 'h2' | 'http1' | 'more';

/** What `bytes`, the first a connection sent, open with. */
export function openingOf(bytes: Buffer): Opening {
  // Every HTTP/1.1 method but PRI differs from the preface within its first two bytes.
  if (bytes.length === 0 || bytes[0] !== PREFACE[0]) return 'http1';
  const n = Math.min(bytes.length, PREFACE.length);
  if (bytes.compare(PREFACE, 0, n, 0, n) !== 0) return 'http1';
  return n === PREFACE.length ? 'h2' : 'more';
}

/** What a listener does with a connection once its opening is known. */
export interface Openings {
  /** The connection opened with the preface: `socket`, paused, holds what it read unread. */
  h2(socket: Socket): void;
  /** Nothing, or a prefix of the preface and nothing more, for HEADER_TIMEOUT: to be answered 408 and closed. */
  stalled(socket: Socket): void;
}

/**
 * Serves HTTP/2 with prior knowledge (h2c, RFC 9113 §3.3) on a node:http server's port beside
 * HTTP/1.1: the first bytes of each connection are read once, before node:http sees it. One
 * that opens with the preface goes to `openings.h2`; any other is handed to node:http, which
 * parses the bytes read so far first. Until then HEADER_TIMEOUT (`headerTimeout` ms,
 * 0: none) runs from the connection's start, as node:http runs it for a connection that sends
 * nothing: one that sends nothing, or only part of the preface, is `openings.stalled`.
 * With PROXY_PROTOCOL (`gate`), the same first read takes the PROXY header off first.
 */
export function serveH2cBeside(server: Server, openings: Openings, headerTimeout: number, gate?: ProxyGate): void {
  // node:http takes its connections on 'connection' (as `server.emit('connection', socket)`
  // hands it one): its listener now runs once a connection's opening is known.
  const http1 = server.listeners('connection') as ((this: Server, socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    let seen: Buffer | undefined;
    let proxied = gate === undefined;
    const onError = (): void => { socket.destroy(); };
    const onData = (chunk: Buffer): void => {
      let bytes = seen === undefined ? chunk : Buffer.concat([seen, chunk]);
      if (!proxied) {
        const step = gate!.step(socket, bytes);
        if (step === 'more') { seen = bytes; return; }
        if (step === 'refused') { clearTimeout(timer); socket.destroy(); return; }
        proxied = true;
        bytes = step;
        seen = undefined;
        if (bytes.length === 0) return;
      }
      const opening = openingOf(bytes);
      if (opening === 'more') {
        seen = bytes;
        return;
      }
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      if (opening === 'h2') {
        // Paused, so that what is put back waits for node:http2, which reads it first.
        socket.pause();
        socket.unshift(bytes);
        openings.h2(socket);
        return;
      }
      for (const listener of http1) listener.call(server, socket);
      // node:http now reads the socket's handle itself and pauses it through the socket when a
      // request body waits. This read marks the socket's stream as reading, as node:http's own
      // first read does: without it, the stream would start the handle again on its own after
      // such a pause (it saw a read of its own, this one), and a client's upload would no
      // longer be held back by a backend that reads nothing. The bytes go to node:http's
      // parser as if it had read them.
      socket.read(0);
      socket.emit('data', bytes);
    };
    const timer = headerTimeout > 0 ? setTimeout(() => {
      if (socket.destroyed) return;
      socket.off('data', onData);
      if (!proxied) gate!.stalled(socket);
      else openings.stalled(socket);
    }, headerTimeout).unref() : undefined;
    socket.on('error', onError);
    socket.on('data', onData);
  });
}
